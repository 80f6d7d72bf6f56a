#include "kube/rest/backoff.h"

#include <algorithm>

namespace hf::kube {

RetryPlan PlanRetry(const Status& failure, Clock::Duration backoff, const BackoffPolicy& policy) {
  if (auto after = failure.retry_after()) {
    Clock::Duration wait = std::clamp<Clock::Duration>(*after, policy.initial, policy.max_retry_after);
    return {wait, backoff};
  }
  if (failure.reason() == Reason::kTransport) {
    return {std::min(backoff, policy.max_unreachable), std::min(backoff * 2, policy.max_unreachable)};
  }
  return {backoff, std::min(backoff * 2, policy.max)};
}

}  // namespace hf::kube
