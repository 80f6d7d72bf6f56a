// Discovery: whether the API server serves a resource, read from its
// discovery documents (/api/v1, /apis/<group>/<version>) as client-go's
// discovery client does, and cached for a short while. Controllers ask it
// before writing optional kinds (ServiceMonitor, PrometheusRule), so a CRD
// installed later is noticed once the cache expires, or at once after
// Invalidate (e.g. on a CRD watch event).
//
// Thread-safety: safe for concurrent use.
#ifndef HF_KUBE_DISCOVERY_DISCOVERY_H_
#define HF_KUBE_DISCOVERY_DISCOVERY_H_

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "kube/clock.h"
#include "kube/rest/client.h"
#include "kube/rest/resource.h"
#include "kube/status.h"
#include "kube/mutex.h"

namespace hf::kube {

// What controllers depend on, so their tests can answer from a fake
// (kube/fake/fake_discovery.h).
class Discovery {
 public:
  virtual ~Discovery() = default;
  // True if gvr.resource is listed for its group-version. A group-version
  // the server does not know is false, not an error.
  virtual StatusOr<bool> IsServed(const GroupVersionResource& gvr) = 0;
  // Forgets what it knows, so the next question asks again.
  virtual void Invalidate() = 0;
};

class ServerDiscovery final : public Discovery {
 public:
  // `client` and `clock` must outlive this.
  explicit ServerDiscovery(Client& client, Clock& clock = DefaultClock(),
                           Clock::Duration ttl = std::chrono::seconds(30));

  // 404 for the group-version is false; other failures are returned and
  // not cached.
  StatusOr<bool> IsServed(const GroupVersionResource& gvr) override;
  void Invalidate() override;

 private:
  struct Entry {
    std::set<std::string> resources;  // empty when the group-version is not served
    Clock::TimePoint fetched;
  };

  Client& client_;
  Clock& clock_;
  const Clock::Duration ttl_;

  Mutex mu_;
  std::map<std::string, Entry> by_group_version_ HF_GUARDED_BY(mu_);  // "apps/v1" -> resources
};

}  // namespace hf::kube

#endif  // HF_KUBE_DISCOVERY_DISCOVERY_H_
