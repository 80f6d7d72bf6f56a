#include "agent/allocation_tracker.h"

#include "kube/thread_name.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace hf::agent {

AllocationTracker::AllocationTracker(AllocationTrackerOptions options, AgentMetrics& metrics, kube::Clock& clock)
    : options_(std::move(options)), client_(options_.socket_path), metrics_(metrics), clock_(clock) {}

AllocationTracker::~AllocationTracker() { Stop(); }

void AllocationTracker::AddListener(std::function<void(int)> fn) { listeners_.push_back(std::move(fn)); }

void AllocationTracker::Start() {
  Count();
  thread_ = std::thread([this] {
    kube::SetThreadName("alloc-tracker");
    Run();
  });
}

void AllocationTracker::Stop() {
  if (!thread_.joinable()) return;
  {
    kube::MutexLock l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void AllocationTracker::Allocated() {
  {
    kube::MutexLock l(mu_);
    kube::Clock::TimePoint at = clock_.Now() + options_.after_allocate;
    recount_at_ = recount_at_ ? std::min(*recount_at_, at) : at;
  }
  cv_.notify_all();
}

void AllocationTracker::Count() {
  kube::StatusOr<int> n = client_.CountAllocated(options_.resource_name);
  if (!n.ok() && !kube::IsNotFound(n.status())) {
    // Keep the last count rather than report a drop to zero that did not happen.
    spdlog::warn("counting allocated devices: {}", n.status().message());
    return;
  }
  int count = n.ok() ? *n : 0;
  metrics_.SetAllocated(count);
  if (allocated_.exchange(count) == count) return;
  for (const auto& fn : listeners_) fn(count);
}

void AllocationTracker::Run() {
  kube::MutexLock l(mu_);
  kube::Clock::TimePoint next = clock_.Now() + options_.interval;
  while (!stopping_) {
    kube::Clock::TimePoint wake = recount_at_ ? std::min(next, *recount_at_) : next;
    if (clock_.Now() < wake) {
      clock_.WaitUntil(l.native(), cv_, wake);
      continue;
    }
    recount_at_.reset();
    next = clock_.Now() + options_.interval;
    l.Unlock();
    Count();
    l.Lock();
  }
}

}  // namespace hf::agent
