// DeviceStore: the agent's current devices, one versioned DeviceState that
// the HealthMonitor replaces after each scan and everything else reads: the
// ListAndWatch streams, Allocate, the CDI writer and the reporter. A device
// once found is never dropped: when a scan misses it, it stays listed as
// Unhealthy (the kubelet then counts it in capacity but not allocatable),
// and turns Healthy again when it comes back.
//
// Thread-safety: Get and WaitForChange from any thread; Update from one
// thread at a time (the monitor's), so subscribers see states in order.
// Subscribers run on that thread, outside the store's lock, in the order
// they subscribed.
#ifndef HF_AGENT_DEVICE_STORE_H_
#define HF_AGENT_DEVICE_STORE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <vector>

#include "agent/device_set.h"
#include "kube/clock.h"
#include "kube/status.h"
#include "kube/mutex.h"

namespace hf::agent {

struct DeviceState {
  uint64_t version = 0;  // bumped on every change
  DeviceSet set;
  bool scanned = false;    // a scan has succeeded
  std::string scan_error;  // the last scan's error; empty when it succeeded
};

// A device whose health flipped in an Update.
struct HealthTransition {
  std::string id;
  bool healthy;  // the new health
};

class DeviceStore {
 public:
  explicit DeviceStore(int replicas);

  // Merges a scan into the state. A failed scan keeps the devices and
  // records the error. Returns the health flips of known devices.
  std::vector<HealthTransition> Update(const kube::StatusOr<std::vector<Device>>& scan);

  std::shared_ptr<const DeviceState> Get() const;

  // Blocks until the version differs from `seen`, `stop` is requested or
  // `deadline` passes on `clock`; returns the state then.
  std::shared_ptr<const DeviceState> WaitForChange(uint64_t seen, std::stop_token stop, kube::Clock& clock,
                                                   kube::Clock::TimePoint deadline) const;

  // Called with the new state after every change. Subscribe before Update
  // is first called.
  void Subscribe(std::function<void(const DeviceState&)> fn);

 private:
  const int replicas_;
  mutable kube::Mutex mu_;
  mutable std::condition_variable changed_;
  std::shared_ptr<const DeviceState> state_ HF_GUARDED_BY(mu_);
  std::vector<std::function<void(const DeviceState&)>> subscribers_;
};

}  // namespace hf::agent

#endif  // HF_AGENT_DEVICE_STORE_H_
