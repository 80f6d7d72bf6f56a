// PlanRetry: how long to wait after a failed API request before the next
// one, for loops that must keep a cache or a report current (the reflector,
// the agent's reporter). Unreachable servers and Retry-After answers are
// bounded so that the loop is back within about a second of the server,
// however long the outage; a server that answers with errors backs off
// exponentially.
//
// Thread-safety: plain values and a pure function.
#ifndef HF_KUBE_REST_BACKOFF_H_
#define HF_KUBE_REST_BACKOFF_H_

#include <chrono>

#include "kube/clock.h"
#include "kube/status.h"

namespace hf::kube {

struct BackoffPolicy {
  Clock::Duration initial = std::chrono::milliseconds(200);
  Clock::Duration max = std::chrono::seconds(30);
  // While the server cannot be reached at all, a retry costs it nothing, so
  // it comes at least this often.
  Clock::Duration max_unreachable = std::chrono::seconds(1);
  // A Retry-After (429, or 503 from a storage that is re-initialising) is
  // honoured up to this long: beyond that it is only the server's guess, and
  // a loop stalled on it is worse than one more request.
  Clock::Duration max_retry_after = std::chrono::seconds(2);
};

struct RetryPlan {
  Clock::Duration wait;          // before the next attempt
  Clock::Duration next_backoff;  // the backoff to plan the failure after it with
};

// `backoff` starts at policy.initial and is reset there after a success.
RetryPlan PlanRetry(const Status& failure, Clock::Duration backoff, const BackoffPolicy& policy);

}  // namespace hf::kube

#endif  // HF_KUBE_REST_BACKOFF_H_
