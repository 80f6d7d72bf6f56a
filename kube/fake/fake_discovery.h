// FakeDiscovery: a Discovery that serves what the test says, and counts how
// often it was asked to forget.
//
// Thread-safety: safe for concurrent use.
#ifndef HF_KUBE_FAKE_FAKE_DISCOVERY_H_
#define HF_KUBE_FAKE_FAKE_DISCOVERY_H_

#include <atomic>
#include <mutex>
#include <set>
#include <string>

#include "kube/discovery/discovery.h"
#include "kube/mutex.h"

namespace hf::kube {

class FakeDiscovery final : public Discovery {
 public:
  void Serve(const GroupVersionResource& gvr, bool served) {
    MutexLock l(mu_);
    if (served) {
      served_.insert(gvr.String() + "/" + gvr.version);
    } else {
      served_.erase(gvr.String() + "/" + gvr.version);
    }
  }
  StatusOr<bool> IsServed(const GroupVersionResource& gvr) override {
    MutexLock l(mu_);
    return served_.count(gvr.String() + "/" + gvr.version) > 0;
  }
  void Invalidate() override { invalidations_.fetch_add(1); }
  int Invalidations() const { return invalidations_.load(); }

 private:
  Mutex mu_;
  std::set<std::string> served_ HF_GUARDED_BY(mu_);
  std::atomic<int> invalidations_{0};
};

}  // namespace hf::kube

#endif  // HF_KUBE_FAKE_FAKE_DISCOVERY_H_
