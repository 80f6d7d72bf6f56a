// WaitHookClock: a kube::FakeClock that calls a hook each time a thread
// begins a timed wait on it, with that wait's deadline. A test learns from
// it the delay a loop chose (deadline minus Now) and that a loop woken by a
// Step has gone back to its wait, both without real time.
//
// The hook runs on the waiting thread with the waiter's own lock held, so it
// may take only a lock of the test's that the test never holds while it
// calls into the code under test or steps the clock. A Step made once the
// hook ran is not lost: FakeClock compares the deadline with its time as it
// registers the waiter.
//
// Thread-safety: as FakeClock's.
#ifndef HF_TESTS_AGENT_TESTING_WAIT_HOOK_CLOCK_H_
#define HF_TESTS_AGENT_TESTING_WAIT_HOOK_CLOCK_H_

#include <condition_variable>
#include <functional>
#include <mutex>

#include "kube/clock.h"

namespace hf::agent::testing {

class WaitHookClock final : public kube::Clock {
 public:
  explicit WaitHookClock(std::function<void(TimePoint deadline)> on_wait) : on_wait_(std::move(on_wait)) {}

  TimePoint Now() const override { return fake_.Now(); }
  std::chrono::system_clock::time_point WallNow() const override { return fake_.WallNow(); }
  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, TimePoint deadline) override {
    on_wait_(deadline);
    fake_.WaitUntil(lock, cv, deadline);
  }

  void Step(Duration d) { fake_.Step(d); }
  void BlockUntilWaiters(int n) const { fake_.BlockUntilWaiters(n); }

 private:
  const std::function<void(TimePoint)> on_wait_;
  kube::FakeClock fake_;
};

}  // namespace hf::agent::testing

#endif  // HF_TESTS_AGENT_TESTING_WAIT_HOOK_CLOCK_H_
