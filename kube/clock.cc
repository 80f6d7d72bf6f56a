#include "kube/clock.h"

#include <algorithm>

namespace hf::kube {

Clock& DefaultClock() {
  static RealClock* clock = new RealClock();  // never destroyed: used until exit.
  return *clock;
}

FakeClock::FakeClock()
    // A fixed, recognisable start keeps golden timestamps stable.
    : now_(TimePoint(std::chrono::hours(1000))),
      wall_now_(std::chrono::system_clock::time_point(std::chrono::seconds(1767225600))) {}

Clock::TimePoint FakeClock::Now() const {
  MutexLock l(mu_);
  return now_;
}

std::chrono::system_clock::time_point FakeClock::WallNow() const {
  MutexLock l(mu_);
  return wall_now_;
}

void FakeClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                          TimePoint deadline) {
  {
    MutexLock l(mu_);
    if (now_ >= deadline) return;
    waiters_.push_back({lock.mutex(), &cv});
    waiters_changed_.notify_all();
  }
  // Step() takes the caller's mutex before notifying, and the caller holds it
  // until cv.wait releases it atomically, so a Step between registration and
  // the wait cannot be lost.
  cv.wait(lock);
  MutexLock l(mu_);
  auto it = std::find_if(waiters_.begin(), waiters_.end(),
                         [&](const Waiter& w) { return w.cv == &cv && w.mu == lock.mutex(); });
  if (it != waiters_.end()) waiters_.erase(it);
  waiters_changed_.notify_all();
}

void FakeClock::Step(Duration d) {
  std::vector<Waiter> wake;
  {
    MutexLock l(mu_);
    now_ += d;
    wall_now_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
    wake = waiters_;
  }
  for (const Waiter& w : wake) {
    std::lock_guard<std::mutex> l(*w.mu);
    w.cv->notify_all();
  }
}

int FakeClock::Waiters() const {
  MutexLock l(mu_);
  return static_cast<int>(waiters_.size());
}

void FakeClock::BlockUntilWaiters(int n) const {
  MutexLock l(mu_);
  while (static_cast<int>(waiters_.size()) < n) waiters_changed_.wait(l.native());
}

}  // namespace hf::kube
