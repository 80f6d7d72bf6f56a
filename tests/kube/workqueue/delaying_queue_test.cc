#include "kube/workqueue/delaying_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "kube/clock.h"

namespace hf::kube {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(DelayingQueueTest, KeyIsReadyOnlyOnceItsDelayHasPassed) {
  FakeClock clock;
  DelayingQueue queue(clock);
  queue.AddAfter("a", seconds(1));
  EXPECT_EQ(queue.Len(), 0);
  clock.Step(milliseconds(999));
  EXPECT_EQ(queue.Len(), 0);
  clock.Step(milliseconds(1));
  EXPECT_EQ(queue.Len(), 1);
  EXPECT_EQ(queue.Get(), "a");
}

TEST(DelayingQueueTest, NonPositiveDelayAddsAtOnce) {
  FakeClock clock;
  DelayingQueue queue(clock);
  queue.AddAfter("a", seconds(0));
  queue.AddAfter("b", seconds(-1));
  EXPECT_EQ(queue.Len(), 2);
}

TEST(DelayingQueueTest, EarliestDeadlineWinsAndTheKeyIsAddedOnce) {
  FakeClock clock;
  DelayingQueue queue(clock);
  queue.AddAfter("a", seconds(5));
  queue.AddAfter("a", seconds(1));
  queue.AddAfter("a", seconds(10));
  clock.Step(seconds(1));
  EXPECT_EQ(queue.Len(), 1);
  ASSERT_EQ(queue.Get(), "a");
  queue.Done("a");
  // The later deadlines were folded into the first, not kept as extra adds.
  clock.Step(seconds(10));
  EXPECT_EQ(queue.Len(), 0);
}

TEST(DelayingQueueTest, BlockedGetWakesWhenTheClockReachesTheDeadline) {
  FakeClock clock;
  DelayingQueue queue(clock);
  queue.AddAfter("a", seconds(1));
  std::optional<std::string> got;
  std::thread worker([&] { got = queue.Get(); });
  clock.BlockUntilWaiters(1);
  clock.Step(seconds(1));
  worker.join();
  EXPECT_EQ(got, "a");
}

// A FakeClock that also records the deadline of the latest wait, to show a
// blocked Get re-arming for an earlier key without the clock moving.
class DeadlineRecordingClock final : public Clock {
 public:
  TimePoint Now() const override { return fake_.Now(); }
  std::chrono::system_clock::time_point WallNow() const override { return fake_.WallNow(); }
  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 TimePoint deadline) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      last_deadline_ = deadline;
      changed_.notify_all();
    }
    fake_.WaitUntil(lock, cv, deadline);
  }

  void BlockUntilWaitingFor(TimePoint deadline) {
    std::unique_lock<std::mutex> l(mu_);
    changed_.wait(l, [&] { return last_deadline_ == deadline; });
  }
  FakeClock& fake() { return fake_; }

 private:
  FakeClock fake_;
  std::mutex mu_;
  std::condition_variable changed_;
  TimePoint last_deadline_;  // guarded by mu_.
};

TEST(DelayingQueueTest, EarlierAddAfterShortensTheWaitOfABlockedGet) {
  DeadlineRecordingClock clock;
  DelayingQueue queue(clock);
  const Clock::TimePoint start = clock.Now();
  queue.AddAfter("late", hours(1));
  std::optional<std::string> got;
  std::thread worker([&] { got = queue.Get(); });
  clock.BlockUntilWaitingFor(start + hours(1));

  queue.AddAfter("soon", seconds(1));
  clock.BlockUntilWaitingFor(start + seconds(1));
  clock.fake().Step(seconds(1));
  worker.join();
  EXPECT_EQ(got, "soon");
}

TEST(DelayingQueueTest, ShutDownUnblocksGetAndDropsDelayedKeys) {
  FakeClock clock;
  DelayingQueue queue(clock);
  queue.AddAfter("a", seconds(1));
  std::optional<std::string> got = "unset";
  std::thread worker([&] { got = queue.Get(); });
  clock.BlockUntilWaiters(1);
  queue.ShutDown();
  worker.join();
  EXPECT_EQ(got, std::nullopt);
  clock.Step(seconds(1));
  EXPECT_EQ(queue.Len(), 0);
}

}  // namespace
}  // namespace hf::kube
