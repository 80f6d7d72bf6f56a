// Controller: a rate-limited work queue, the informers that feed it, and
// workers that call a Reconciler (controller-runtime's controller). Event
// handlers only enqueue names; the queue deduplicates, so a burst of events
// for one object costs one Reconcile.
//
// Thread-safety: Watch and AddSyncable before Start; Enqueue from any thread.
#ifndef HF_KUBE_CONTROLLER_CONTROLLER_H_
#define HF_KUBE_CONTROLLER_CONTROLLER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "kube/cache/shared_informer.h"
#include "kube/controller/reconciler.h"
#include "kube/metrics/metrics.h"
#include "kube/workqueue/rate_limiting_queue.h"

namespace hf::kube {

struct ControllerOptions {
  std::string name;
  int max_concurrent_reconciles = 1;
  // nullptr = DefaultControllerRateLimiter on `clock`.
  std::unique_ptr<RateLimiter> rate_limiter;
  Clock* clock = nullptr;  // nullptr = DefaultClock()
  Metrics* metrics = nullptr;
  std::unique_ptr<QueueMetrics> queue_metrics;
};

class Controller {
 public:
  Controller(ControllerOptions options, Reconciler& reconciler);
  ~Controller();

  // Feeds the queue from `informer`: every add, update and delete maps to
  // requests. The informer must be running elsewhere (a Manager runs them).
  template <typename T>
  void Watch(SharedInformer<T>& informer, std::function<std::vector<Request>(const T&)> map) {
    AddSyncable(&informer);
    auto enqueue = [this, map](const T& obj) {
      for (const auto& r : map(obj)) Enqueue(r);
    };
    informer.AddEventHandler(
        {enqueue, [enqueue](const T& old_obj, const T& new_obj) {
           enqueue(old_obj);
           enqueue(new_obj);
         },
         enqueue});
  }
  // Start waits for these before the first Reconcile.
  void AddSyncable(const Syncable* s) { syncables_.push_back(s); }

  void Enqueue(const Request& r);
  void EnqueueAfter(const Request& r, Clock::Duration d);

  // Runs the workers until `stop`; in-flight reconciles finish first.
  void Start(std::stop_token stop);

  const std::string& name() const { return name_; }

 private:
  // One Get/Reconcile/Done round; false once the queue is shut down.
  bool ProcessNext(std::stop_token stop);

  const std::string name_;
  const int workers_;
  Reconciler& reconciler_;
  Clock& clock_;
  Metrics* metrics_;
  RateLimitingQueue queue_;
  std::vector<const Syncable*> syncables_;
};

}  // namespace hf::kube

#endif  // HF_KUBE_CONTROLLER_CONTROLLER_H_
