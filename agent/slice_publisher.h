// SlicePublisher: keeps the node's ResourceSlices (resource_slice.h) in step
// with the device store when the pool uses DRA. Each sync lists the slices
// labelled with the agent's pool and node and writes only when they differ
// from what the devices say: then every slice of the pool is applied with
// the pool generation one above the highest seen (server-side apply, field
// manager devicepool-agent), and slices no longer needed are deleted. A
// sync that finds nothing to change sends only the list. It syncs when
// poked (a device or its health changed, the kubelet registered the driver)
// and every `resync`, which also repairs a slice deleted or edited behind
// its back (the kubelet deletes a node's slices when the driver has been
// gone for a while). Failed writes are retried as the reporter's are.
//
// Thread-safety: Start and Stop from one thread; Poke from any thread; Sync
// is for the loop (and tests) only.
#ifndef HF_AGENT_SLICE_PUBLISHER_H_
#define HF_AGENT_SLICE_PUBLISHER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "agent/device_store.h"
#include "agent/resource_slice.h"
#include "kube/clock.h"
#include "kube/mutex.h"
#include "kube/rest/backoff.h"
#include "kube/rest/client.h"
#include "kube/status.h"

namespace hf::agent {

struct SlicePublisherOptions {
  SliceIdentity identity;
  std::chrono::milliseconds resync{std::chrono::seconds(30)};
  kube::BackoffPolicy backoff{std::chrono::seconds(1), std::chrono::seconds(60)};
};

class SlicePublisher {
 public:
  using ClientFactory = std::function<kube::StatusOr<std::shared_ptr<kube::ReadWriter>>()>;
  // The advertised ids containers hold through the device plugin API
  // (resource_slice.h); asked on every sync. An error fails the sync: a
  // slice must not offer a device a running pod may hold.
  using Held = std::function<kube::StatusOr<std::set<std::string>>()>;

  SlicePublisher(SlicePublisherOptions options, ClientFactory client_factory, DeviceStore& store,
                 kube::Clock& clock, Held held = nullptr);
  ~SlicePublisher();  // Stops.

  SlicePublisher(const SlicePublisher&) = delete;
  SlicePublisher& operator=(const SlicePublisher&) = delete;

  void Start();
  void Stop();
  void Poke();

  // Lists, compares and writes what differs.
  kube::Status Sync();

  // Whether the last sync succeeded (the slices say what the devices do),
  // and how many syncs wrote something.
  bool published() const;
  uint64_t writes() const;

 private:
  void Run();

  const SlicePublisherOptions options_;
  const ClientFactory client_factory_;
  const Held held_;
  DeviceStore& store_;
  kube::Clock& clock_;
  std::shared_ptr<kube::ReadWriter> client_;  // the loop's (or a test's Sync's) only

  mutable kube::Mutex mu_;
  std::condition_variable cv_;
  bool dirty_ HF_GUARDED_BY(mu_) = true;
  bool stopping_ HF_GUARDED_BY(mu_) = false;
  bool published_ HF_GUARDED_BY(mu_) = false;
  uint64_t writes_ HF_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace hf::agent

#endif  // HF_AGENT_SLICE_PUBLISHER_H_
