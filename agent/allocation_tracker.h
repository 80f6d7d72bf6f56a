// AllocationTracker: how many of the agent's advertised devices containers
// hold, read from the kubelet's PodResources API every `interval` and again
// `after_allocate` after each Allocate (the kubelet records an allocation
// once Allocate returns), both on the kube::Clock given. Without the
// PodResources socket the count is 0. Feeds the allocated metric and the
// DevicePoolNode report.
//
// Thread-safety: Start and Stop from one thread; the rest from any thread.
// Listeners run on the tracker's thread.
#ifndef HF_AGENT_ALLOCATION_TRACKER_H_
#define HF_AGENT_ALLOCATION_TRACKER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent_metrics.h"
#include "agent/pod_resources_client.h"
#include "kube/clock.h"
#include "kube/mutex.h"

namespace hf::agent {

struct AllocationTrackerOptions {
  std::string socket_path;
  std::string resource_name;
  std::chrono::milliseconds interval{std::chrono::seconds(30)};
  std::chrono::milliseconds after_allocate{std::chrono::seconds(1)};
};

class AllocationTracker {
 public:
  AllocationTracker(AllocationTrackerOptions options, AgentMetrics& metrics,
                    kube::Clock& clock = kube::DefaultClock());
  ~AllocationTracker();  // Stops.

  AllocationTracker(const AllocationTracker&) = delete;
  AllocationTracker& operator=(const AllocationTracker&) = delete;

  // Counts once, then keeps counting on its own thread.
  void Start();
  void Stop();

  int allocated() const { return allocated_.load(); }

  // An Allocate was answered; count again after `after_allocate`.
  void Allocated();

  // Called with the new count when it changes. Add before Start.
  void AddListener(std::function<void(int)> fn);

 private:
  void Count();
  void Run();

  const AllocationTrackerOptions options_;
  const PodResourcesClient client_;
  AgentMetrics& metrics_;
  kube::Clock& clock_;
  std::vector<std::function<void(int)>> listeners_;
  std::atomic<int> allocated_{0};

  kube::Mutex mu_;
  std::condition_variable cv_;
  std::optional<kube::Clock::TimePoint> recount_at_ HF_GUARDED_BY(mu_);
  bool stopping_ HF_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace hf::agent

#endif  // HF_AGENT_ALLOCATION_TRACKER_H_
