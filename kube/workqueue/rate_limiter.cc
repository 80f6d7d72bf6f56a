#include "kube/workqueue/rate_limiter.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

namespace hf::kube {

ItemExponentialFailureRateLimiter::ItemExponentialFailureRateLimiter(Clock::Duration base,
                                                                     Clock::Duration max)
    : base_(base), max_(max) {}

Clock::Duration ItemExponentialFailureRateLimiter::When(const std::string& key) {
  MutexLock lock(mu_);
  const int exponent = failures_[key]++;
  // In floating point so that a long failure streak saturates at max_
  // instead of overflowing.
  const double backoff = static_cast<double>(base_.count()) * std::ldexp(1.0, exponent);
  if (backoff >= static_cast<double>(max_.count())) return max_;
  return Clock::Duration(static_cast<Clock::Duration::rep>(backoff));
}

void ItemExponentialFailureRateLimiter::Forget(const std::string& key) {
  MutexLock lock(mu_);
  failures_.erase(key);
}

int ItemExponentialFailureRateLimiter::NumRequeues(const std::string& key) const {
  MutexLock lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

BucketRateLimiter::BucketRateLimiter(double qps, int burst, Clock& clock)
    : bucket_(qps, burst, clock) {}

Clock::Duration BucketRateLimiter::When(const std::string& /*key*/) { return bucket_.Reserve(); }

void BucketRateLimiter::Forget(const std::string& /*key*/) {}

int BucketRateLimiter::NumRequeues(const std::string& /*key*/) const { return 0; }

MaxOfRateLimiter::MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters)
    : limiters_(std::move(limiters)) {}

Clock::Duration MaxOfRateLimiter::When(const std::string& key) {
  Clock::Duration longest = Clock::Duration::zero();
  for (const auto& limiter : limiters_) longest = std::max(longest, limiter->When(key));
  return longest;
}

void MaxOfRateLimiter::Forget(const std::string& key) {
  for (const auto& limiter : limiters_) limiter->Forget(key);
}

int MaxOfRateLimiter::NumRequeues(const std::string& key) const {
  int most = 0;
  for (const auto& limiter : limiters_) most = std::max(most, limiter->NumRequeues(key));
  return most;
}

std::unique_ptr<RateLimiter> DefaultControllerRateLimiter(Clock& clock) {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  std::vector<std::unique_ptr<RateLimiter>> limiters;
  limiters.push_back(
      std::make_unique<ItemExponentialFailureRateLimiter>(milliseconds(5), seconds(1000)));
  limiters.push_back(std::make_unique<BucketRateLimiter>(10, 100, clock));
  return std::make_unique<MaxOfRateLimiter>(std::move(limiters));
}

}  // namespace hf::kube
