// TokenBucket: the token-bucket rate limiter behind BucketRateLimiter, also
// used by the REST client for client-side QPS/burst limiting. It holds up to
// `burst` tokens, refills at `qps` per second and starts full, like
// golang.org/x/time/rate.Limiter.
//
// Thread-safety: safe for concurrent use.
#ifndef HF_KUBE_WORKQUEUE_TOKEN_BUCKET_H_
#define HF_KUBE_WORKQUEUE_TOKEN_BUCKET_H_

#include <condition_variable>
#include <mutex>

#include "kube/clock.h"
#include "kube/mutex.h"

namespace hf::kube {

class TokenBucket {
 public:
  // Requires qps > 0 and burst >= 1; `clock` must outlive the bucket.
  TokenBucket(double qps, int burst, Clock& clock = DefaultClock());

  // Takes a token, borrowing from the future if none is left, and returns how
  // long the caller must wait before acting on it (zero if one was ready).
  Clock::Duration Reserve();
  // Takes a token only if one is ready now.
  bool TryAccept();
  // Takes a token, blocking on the clock until it is ready.
  void Wait();

 private:
  // NextFullAtLocked is full_at_ after taking one more token.
  Clock::TimePoint NextFullAtLocked(Clock::TimePoint now) const HF_REQUIRES(mu_);
  Clock::Duration ReserveLocked(Clock::TimePoint now) HF_REQUIRES(mu_);

  // Tokens are kept as time, in integer clock ticks, so that refilling in
  // many small steps adds up exactly: one token is `interval_`, and the
  // bucket is full again at `full_at_`.
  const Clock::Duration interval_;
  const Clock::Duration capacity_;  // burst * interval_.
  Clock& clock_;

  Mutex mu_;
  std::condition_variable wake_;  // only the clock wakes Wait.
  Clock::TimePoint full_at_ HF_GUARDED_BY(mu_);
};

}  // namespace hf::kube

#endif  // HF_KUBE_WORKQUEUE_TOKEN_BUCKET_H_
