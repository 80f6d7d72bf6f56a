#include "kube/workqueue/rate_limiting_queue.h"

#include <utility>

namespace hf::kube {

RateLimitingQueue::RateLimitingQueue(std::unique_ptr<RateLimiter> limiter, Clock& clock,
                                     std::unique_ptr<QueueMetrics> metrics)
    : DelayingQueue(clock, std::move(metrics)), limiter_(std::move(limiter)) {}

void RateLimitingQueue::AddRateLimited(const std::string& key) {
  AddAfter(key, limiter_->When(key));
}

void RateLimitingQueue::Forget(const std::string& key) { limiter_->Forget(key); }

int RateLimitingQueue::NumRequeues(const std::string& key) const {
  return limiter_->NumRequeues(key);
}

}  // namespace hf::kube
