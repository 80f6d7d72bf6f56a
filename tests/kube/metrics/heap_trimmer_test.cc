#include "kube/metrics/heap_trimmer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

namespace hf::kube {
namespace {

using std::chrono::milliseconds;

// Records the fake time of each trim and lets the test wait for the n-th.
class Trims {
 public:
  explicit Trims(FakeClock& clock) : clock_(clock) {}
  std::function<void()> Fn() {
    return [this] {
      std::lock_guard<std::mutex> lock(mu_);
      at_.push_back(clock_.Now());
      cv_.notify_all();
    };
  }
  // Bounded by the test's timeout: a missing trim fails, it does not hang.
  bool WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return at_.size() >= n; });
  }
  Clock::TimePoint At(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return at_.at(i);
  }

 private:
  FakeClock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Clock::TimePoint> at_;
};

TEST(HeapTrimmerTest, TrimsOnceAfterTheLastTouchHasBeenQuietLongEnough) {
  FakeClock clock;
  Trims trims(clock);
  HeapTrimmer trimmer(clock, milliseconds(1000), trims.Fn());
  const auto t0 = clock.Now();
  trimmer.Touch();
  clock.BlockUntilWaiters(1);
  clock.Step(milliseconds(999));
  trimmer.Touch();  // at t0+999: the quiet second starts again
  clock.Step(milliseconds(500));  // t0+1499: 1.5 s after the first touch, 0.5 s after the last
  clock.Step(milliseconds(500));  // t0+1999: a second after the last
  ASSERT_TRUE(trims.WaitFor(1));
  EXPECT_EQ(trims.At(0), t0 + milliseconds(1999)) << "trimmed before the work had been quiet for a second";
  EXPECT_EQ(trimmer.trims(), 1u);

  // More work later: one more trim, a second after it.
  trimmer.Touch();
  trimmer.Touch();
  clock.BlockUntilWaiters(1);
  clock.Step(milliseconds(1000));
  ASSERT_TRUE(trims.WaitFor(2));
  EXPECT_EQ(trims.At(1), t0 + milliseconds(2999));
}

TEST(HeapTrimmerTest, StopsWithATrimPending) {
  FakeClock clock;
  Trims trims(clock);
  {
    HeapTrimmer trimmer(clock, milliseconds(1000), trims.Fn());
    trimmer.Touch();
    clock.BlockUntilWaiters(1);
  }  // the destructor returns without the quiet second having passed
  EXPECT_FALSE(clock.Waiters() > 0);
}

}  // namespace
}  // namespace hf::kube
