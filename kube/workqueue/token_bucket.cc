#include "kube/workqueue/token_bucket.h"

#include <algorithm>
#include <chrono>

namespace hf::kube {

TokenBucket::TokenBucket(double qps, int burst, Clock& clock)
    : interval_(std::chrono::round<Clock::Duration>(std::chrono::duration<double>(1 / qps))),
      capacity_(burst * interval_),
      clock_(clock),
      full_at_(clock.Now()) {}

Clock::TimePoint TokenBucket::NextFullAtLocked(Clock::TimePoint now) const {
  return std::max(full_at_, now) + interval_;
}

Clock::Duration TokenBucket::ReserveLocked(Clock::TimePoint now) {
  full_at_ = NextFullAtLocked(now);
  // The bucket may run up to `capacity_` short of full; beyond that the
  // caller waits for the shortfall to refill.
  return std::max(Clock::Duration::zero(), full_at_ - now - capacity_);
}

Clock::Duration TokenBucket::Reserve() {
  MutexLock lock(mu_);
  return ReserveLocked(clock_.Now());
}

bool TokenBucket::TryAccept() {
  MutexLock lock(mu_);
  const Clock::TimePoint now = clock_.Now();
  const Clock::TimePoint next = NextFullAtLocked(now);
  if (next - now > capacity_) return false;
  full_at_ = next;
  return true;
}

void TokenBucket::Wait() {
  MutexLock lock(mu_);
  const Clock::TimePoint now = clock_.Now();
  const Clock::TimePoint ready_at = now + ReserveLocked(now);
  // WaitUntil releases mu_, so other callers reserve meanwhile.
  while (clock_.Now() < ready_at) clock_.WaitUntil(lock.native(), wake_, ready_at);
}

}  // namespace hf::kube
