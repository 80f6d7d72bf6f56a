// Rate limiters for work-queue retries, as in client-go's workqueue package:
// a RateLimiter says how long a key must wait before its next retry.
//
// Thread-safety: every class here is safe for concurrent use.
#ifndef HF_KUBE_WORKQUEUE_RATE_LIMITER_H_
#define HF_KUBE_WORKQUEUE_RATE_LIMITER_H_

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kube/clock.h"
#include "kube/workqueue/token_bucket.h"
#include "kube/mutex.h"

namespace hf::kube {

class RateLimiter {
 public:
  virtual ~RateLimiter() = default;

  // Records a failure of `key` and returns how long to wait before retrying.
  virtual Clock::Duration When(const std::string& key) = 0;
  // Clears the failure history of `key`, after it succeeded.
  virtual void Forget(const std::string& key) = 0;
  // Failures of `key` since it was last forgotten.
  virtual int NumRequeues(const std::string& key) const = 0;
};

// base * 2^failures per key, capped at max.
class ItemExponentialFailureRateLimiter final : public RateLimiter {
 public:
  ItemExponentialFailureRateLimiter(Clock::Duration base, Clock::Duration max);

  Clock::Duration When(const std::string& key) override;
  void Forget(const std::string& key) override;
  int NumRequeues(const std::string& key) const override;

 private:
  const Clock::Duration base_;
  const Clock::Duration max_;
  mutable Mutex mu_;
  std::unordered_map<std::string, int> failures_ HF_GUARDED_BY(mu_);
};

// One TokenBucket shared by all keys: bounds the overall retry rate whatever
// the per-key backoff says. Keeps no per-key history.
class BucketRateLimiter final : public RateLimiter {
 public:
  BucketRateLimiter(double qps, int burst, Clock& clock = DefaultClock());

  Clock::Duration When(const std::string& key) override;
  void Forget(const std::string& key) override;
  int NumRequeues(const std::string& key) const override;

 private:
  TokenBucket bucket_;
};

// The longest wait of several limiters; every limiter records each failure.
class MaxOfRateLimiter final : public RateLimiter {
 public:
  explicit MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters);

  Clock::Duration When(const std::string& key) override;
  void Forget(const std::string& key) override;
  int NumRequeues(const std::string& key) const override;

 private:
  const std::vector<std::unique_ptr<RateLimiter>> limiters_;
};

// client-go's default: per-key exponential backoff from 5ms to 1000s, and at
// most 10 retries per second overall with bursts of 100.
std::unique_ptr<RateLimiter> DefaultControllerRateLimiter(Clock& clock = DefaultClock());

}  // namespace hf::kube

#endif  // HF_KUBE_WORKQUEUE_RATE_LIMITER_H_
