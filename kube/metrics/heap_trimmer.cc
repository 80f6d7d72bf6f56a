#include "kube/metrics/heap_trimmer.h"

#include <malloc.h>

namespace hf::kube {

HeapTrimmer::HeapTrimmer(Clock& clock, Clock::Duration quiet, std::function<void()> trim)
    : clock_(clock),
      quiet_(quiet),
      trim_(trim ? std::move(trim) : [] { malloc_trim(0); }),
      worker_([this] { Loop(); }) {}

HeapTrimmer::~HeapTrimmer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void HeapTrimmer::Touch() {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_ = clock_.Now();
    wake = !pending_;
    pending_ = true;
  }
  if (wake) cv_.notify_all();
}

void HeapTrimmer::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (!pending_) {
      cv_.wait(lock, [this] { return stop_ || pending_; });
      continue;
    }
    const Clock::TimePoint due = last_ + quiet_;
    if (clock_.Now() < due) {
      clock_.WaitUntil(lock, cv_, due);
      continue;  // a Touch meanwhile moved last_; re-read it
    }
    pending_ = false;
    lock.unlock();
    trim_();
    trims_.fetch_add(1);
    lock.lock();
  }
}

}  // namespace hf::kube
