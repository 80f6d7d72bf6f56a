// Clock: the source of time for everything in hf::kube that waits or
// measures (work-queue delays, rate limiters, leader election, backoff).
// Production code gets RealClock; tests inject FakeClock and step it, so no
// test sleeps.
//
// Thread-safety: both implementations are safe for concurrent use.
#ifndef HF_KUBE_CLOCK_H_
#define HF_KUBE_CLOCK_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "kube/mutex.h"

namespace hf::kube {

class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;

  virtual TimePoint Now() const = 0;

  // Blocks on `cv` (with `lock` held on entry and on return) until it is
  // notified or `deadline` passes on this clock. May return early
  // (spuriously), so callers re-check their condition in a loop.
  virtual void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         TimePoint deadline) = 0;

  // The wall clock, for timestamps written to the API (Lease renewTime,
  // Event eventTime).
  virtual std::chrono::system_clock::time_point WallNow() const = 0;
};

class RealClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 TimePoint deadline) override {
    cv.wait_until(lock, deadline);
  }
  std::chrono::system_clock::time_point WallNow() const override {
    return std::chrono::system_clock::now();
  }
};

// A process-wide RealClock for code that has no clock injected.
Clock& DefaultClock();

// Time moves only when Step() is called. Waiters whose deadline has passed
// are woken by Step; nothing waits on real time.
class FakeClock final : public Clock {
 public:
  FakeClock();

  TimePoint Now() const override;
  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 TimePoint deadline) override;
  std::chrono::system_clock::time_point WallNow() const override;

  // Advances time and wakes every waiter. Must not be called while holding a
  // waiter's mutex.
  void Step(Duration d);

  // Number of threads currently blocked in WaitUntil, so a test can wait for
  // a worker to reach its timed wait before stepping.
  int Waiters() const;
  // Blocks (on real time, bounded by the caller's test timeout) until at
  // least `n` threads are in WaitUntil.
  void BlockUntilWaiters(int n) const;

 private:
  struct Waiter {
    std::mutex* mu;
    std::condition_variable* cv;
  };

  mutable Mutex mu_;
  mutable std::condition_variable waiters_changed_;
  TimePoint now_ HF_GUARDED_BY(mu_);
  std::chrono::system_clock::time_point wall_now_ HF_GUARDED_BY(mu_);
  std::vector<Waiter> waiters_ HF_GUARDED_BY(mu_);
};

}  // namespace hf::kube

#endif  // HF_KUBE_CLOCK_H_
