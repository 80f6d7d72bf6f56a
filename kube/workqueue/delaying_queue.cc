#include "kube/workqueue/delaying_queue.h"

namespace hf::kube {

void DelayingQueue::AddAfter(const std::string& key, Clock::Duration delay) {
  MutexLock lock(mu());
  if (ShuttingDownLocked()) return;
  metrics().OnRetry();
  if (delay <= Clock::Duration::zero()) {
    AddLocked(key);
    return;
  }
  const Clock::TimePoint deadline = clock().Now() + delay;
  auto [it, inserted] = deadline_of_.try_emplace(key, deadline);
  if (!inserted) {
    if (it->second <= deadline) return;
    by_deadline_.erase({it->second, key});
    it->second = deadline;
  }
  by_deadline_.emplace(deadline, key);
  // A blocked Get may be waiting for a later deadline than this one.
  WakeGettersLocked();
}

std::optional<Clock::TimePoint> DelayingQueue::ReleaseDueLocked(Clock::TimePoint now) {
  while (!by_deadline_.empty() && by_deadline_.begin()->first <= now) {
    auto node = by_deadline_.extract(by_deadline_.begin());
    deadline_of_.erase(node.value().second);
    AddLocked(node.value().second);
  }
  if (by_deadline_.empty()) return std::nullopt;
  return by_deadline_.begin()->first;
}

}  // namespace hf::kube
