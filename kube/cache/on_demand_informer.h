// OnDemandInformer<T>: a SharedInformer for a resource that is not always
// served, such as a CRD installed after the operator started, or removed
// while it runs. Start() when the resource is served, Stop() when it goes;
// each start is a fresh informer (a fresh list), with the handlers added
// before. Synced() is the cache to read, or null while there is none to
// trust: callers then ask the API server. Indexes added before are built in
// every informer it starts.
//
// Thread-safety: AddEventHandler and AddIndex before the first Start;
// everything else from any thread except an informer's own handlers (Stop
// joins that thread).
#ifndef HF_KUBE_CACHE_ON_DEMAND_INFORMER_H_
#define HF_KUBE_CACHE_ON_DEMAND_INFORMER_H_

#include <memory>
#include <mutex>
#include <spdlog/spdlog.h>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kube/cache/shared_informer.h"
#include "kube/mutex.h"

namespace hf::kube {

template <typename T>
class OnDemandInformer {
 public:
  using Decoder = typename SharedInformer<T>::Decoder;

  OnDemandInformer(Reader& client, GroupVersionResource gvr, ListWatchOptions opts, Decoder decode,
                   Clock& clock = DefaultClock())
      : client_(client), gvr_(std::move(gvr)), opts_(std::move(opts)), decode_(std::move(decode)), clock_(clock) {}
  ~OnDemandInformer() { Stop(); }
  OnDemandInformer(const OnDemandInformer&) = delete;
  OnDemandInformer& operator=(const OnDemandInformer&) = delete;

  void AddEventHandler(EventHandler<T> h) { handlers_.push_back(std::move(h)); }
  void AddIndex(const std::string& name, typename Store<T>::IndexFunc f) { indexes_.emplace_back(name, std::move(f)); }

  // Starts an informer unless one runs; true if this call started it.
  bool Start() {
    MutexLock l(mu_);
    if (running_) return false;
    auto informer = std::make_shared<SharedInformer<T>>(client_, gvr_, opts_, decode_, clock_);
    for (const auto& h : handlers_) informer->AddEventHandler(h);
    for (const auto& [name, f] : indexes_) informer->AddIndex(name, f);
    running_ = std::make_unique<Instance>();
    running_->informer = informer;
    running_->thread = std::jthread([informer](std::stop_token st) { informer->Run(st); });
    spdlog::info("informer {}: started, the resource is served", gvr_.String());
    return true;
  }

  // Stops the informer and drops its cache; a no-op when none runs.
  void Stop() {
    std::unique_ptr<Instance> gone;
    {
      MutexLock l(mu_);
      gone = std::move(running_);
    }
    if (!gone) return;
    gone->thread.request_stop();
    gone->thread.join();
    spdlog::info("informer {}: stopped, the resource is no longer served", gvr_.String());
  }

  bool IsRunning() const {
    MutexLock l(mu_);
    return running_ != nullptr;
  }

  // The running informer once it has listed; null before that or when none
  // runs. The pointer stays valid after a concurrent Stop.
  std::shared_ptr<const SharedInformer<T>> Synced() const {
    MutexLock l(mu_);
    if (!running_ || !running_->informer->HasSynced()) return nullptr;
    return running_->informer;
  }

 private:
  struct Instance {
    std::shared_ptr<SharedInformer<T>> informer;
    std::jthread thread;
  };

  Reader& client_;
  const GroupVersionResource gvr_;
  const ListWatchOptions opts_;
  const Decoder decode_;
  Clock& clock_;
  std::vector<EventHandler<T>> handlers_;
  std::vector<std::pair<std::string, typename Store<T>::IndexFunc>> indexes_;
  mutable Mutex mu_;
  std::unique_ptr<Instance> running_ HF_GUARDED_BY(mu_);
};

}  // namespace hf::kube

#endif  // HF_KUBE_CACHE_ON_DEMAND_INFORMER_H_
