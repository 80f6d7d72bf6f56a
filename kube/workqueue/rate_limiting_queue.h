// RateLimitingQueue: the queue controllers use, like client-go's
// RateLimitingInterface. A failed key goes back through AddRateLimited, which
// delays it as the RateLimiter says; Forget clears its history once it
// succeeds, so the next failure starts again from the shortest backoff.
//
// Thread-safety: as Queue.
#ifndef HF_KUBE_WORKQUEUE_RATE_LIMITING_QUEUE_H_
#define HF_KUBE_WORKQUEUE_RATE_LIMITING_QUEUE_H_

#include <memory>
#include <string>

#include "kube/clock.h"
#include "kube/workqueue/delaying_queue.h"
#include "kube/workqueue/metrics.h"
#include "kube/workqueue/rate_limiter.h"

namespace hf::kube {

class RateLimitingQueue : public DelayingQueue {
 public:
  // `limiter` should use the same clock as the queue.
  explicit RateLimitingQueue(std::unique_ptr<RateLimiter> limiter, Clock& clock = DefaultClock(),
                             std::unique_ptr<QueueMetrics> metrics = nullptr);

  // Adds `key` after the delay the limiter gives it.
  void AddRateLimited(const std::string& key);
  // Clears the limiter's history of `key`; it does not remove a pending key.
  void Forget(const std::string& key);
  // How often `key` has gone through AddRateLimited since it was forgotten.
  int NumRequeues(const std::string& key) const;

 private:
  const std::unique_ptr<RateLimiter> limiter_;
};

}  // namespace hf::kube

#endif  // HF_KUBE_WORKQUEUE_RATE_LIMITING_QUEUE_H_
