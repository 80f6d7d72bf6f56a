#include "kube/workqueue/queue.h"

#include <utility>

namespace hf::kube {

Queue::Queue(Clock& clock, std::unique_ptr<QueueMetrics> metrics)
    : clock_(clock),
      metrics_(metrics ? std::move(metrics) : std::make_unique<QueueMetrics>()) {}

void Queue::Add(const std::string& key) {
  MutexLock lock(mu_);
  AddLocked(key);
}

void Queue::AddLocked(const std::string& key) {
  if (shutting_down_ || dirty_.contains(key)) return;
  dirty_.emplace(key, clock_.Now());
  metrics_->OnAdd();
  // A held key waits in dirty_ alone; Done queues it, so no second worker
  // can get it meanwhile.
  if (processing_.contains(key)) return;
  queue_.push_back(key);
  metrics_->OnDepth(static_cast<int>(queue_.size()));
  ready_.notify_one();
}

std::optional<std::string> Queue::Get() {
  MutexLock lock(mu_);
  while (true) {
    std::optional<Clock::TimePoint> next_due = ReleaseDueLocked(clock_.Now());
    if (!queue_.empty()) break;
    if (shutting_down_) return std::nullopt;
    // Waiting through the clock even without a deadline lets tests see idle
    // workers with FakeClock::BlockUntilWaiters.
    clock_.WaitUntil(lock.native(), ready_, next_due.value_or(Clock::TimePoint::max()));
  }
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  metrics_->OnDepth(static_cast<int>(queue_.size()));

  const Clock::TimePoint now = clock_.Now();
  auto dirty = dirty_.find(key);
  metrics_->OnGet(now - dirty->second);
  dirty_.erase(dirty);
  processing_.emplace(key, now);
  return key;
}

void Queue::Done(const std::string& key) {
  MutexLock lock(mu_);
  auto held = processing_.find(key);
  if (held == processing_.end()) return;
  metrics_->OnDone(clock_.Now() - held->second);
  processing_.erase(held);

  if (dirty_.contains(key)) {
    queue_.push_back(key);
    metrics_->OnDepth(static_cast<int>(queue_.size()));
    ready_.notify_one();
  } else if (queue_.empty() && processing_.empty()) {
    drained_.notify_all();
  }
}

int Queue::Len() {
  MutexLock lock(mu_);
  ReleaseDueLocked(clock_.Now());
  return static_cast<int>(queue_.size());
}

void Queue::ShutDown() {
  MutexLock lock(mu_);
  shutting_down_ = true;
  draining_ = false;
  ready_.notify_all();
  drained_.notify_all();
}

void Queue::ShutDownWithDrain() {
  MutexLock lock(mu_);
  shutting_down_ = true;
  draining_ = true;
  ready_.notify_all();
  while (draining_ && (!queue_.empty() || !processing_.empty())) {
    // Through the clock for the same reason as in Get.
    clock_.WaitUntil(lock.native(), drained_, Clock::TimePoint::max());
  }
}

bool Queue::ShuttingDown() const {
  MutexLock lock(mu_);
  return shutting_down_;
}

std::optional<Clock::TimePoint> Queue::ReleaseDueLocked(Clock::TimePoint /*now*/) {
  return std::nullopt;
}

}  // namespace hf::kube
