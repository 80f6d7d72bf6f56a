// Alarm on a FakeClock: it rings when a Step reaches the deadline, at once
// for a deadline already passed, for the deadline set last, and never once
// destroyed. Waits are on the ring count's condition variable; the clock
// moves only when a test steps it.
#include "agent/alarm.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

namespace hf::agent {
namespace {

constexpr auto kBound = std::chrono::seconds(10);  // only a failing test waits this long

class AlarmTest : public ::testing::Test {
 protected:
  void Ring() {
    std::lock_guard<std::mutex> l(mu_);
    ++rings_;
    cv_.notify_all();
  }

  bool WaitRings(int n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, kBound, [&] { return rings_ >= n; });
  }

  int rings() {
    std::lock_guard<std::mutex> l(mu_);
    return rings_;
  }

  kube::FakeClock clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  int rings_ = 0;
  Alarm alarm_{clock_, [this] { Ring(); }};  // last, so it stops first
};

TEST_F(AlarmTest, RingsOnceTheClockReachesTheDeadlineAndCanBeSetAgain) {
  alarm_.Set(clock_.Now() + std::chrono::seconds(1));
  clock_.BlockUntilWaiters(1);
  EXPECT_EQ(rings(), 0);
  clock_.Step(std::chrono::seconds(1));
  ASSERT_TRUE(WaitRings(1));

  // The alarm left the clock before it rang, so this waiter is the new
  // deadline's.
  alarm_.Set(clock_.Now() + std::chrono::seconds(1));
  clock_.BlockUntilWaiters(1);
  EXPECT_EQ(rings(), 1) << "a deadline rings once";
  clock_.Step(std::chrono::seconds(1));
  ASSERT_TRUE(WaitRings(2));
}

TEST_F(AlarmTest, ADeadlineAlreadyPassedRingsWithoutTimePassing) {
  auto start = clock_.Now();
  alarm_.Set(start - std::chrono::seconds(1));
  ASSERT_TRUE(WaitRings(1));
  EXPECT_EQ(clock_.Now(), start);
}

TEST_F(AlarmTest, AnEarlierDeadlineReplacesALaterOne) {
  alarm_.Set(clock_.Now() + std::chrono::hours(1));
  clock_.BlockUntilWaiters(1);
  alarm_.Set(clock_.Now() + std::chrono::seconds(1));
  clock_.Step(std::chrono::seconds(1));
  ASSERT_TRUE(WaitRings(1)) << "still waiting for the hour";
}

TEST_F(AlarmTest, DestroyedBeforeItsDeadlineItNeverRings) {
  {
    Alarm alarm(clock_, [this] { Ring(); });
    alarm.Set(clock_.Now() + std::chrono::seconds(1));
    clock_.BlockUntilWaiters(1);
  }  // joined here, though its clock never reached the deadline
  EXPECT_EQ(clock_.Waiters(), 0);
  clock_.Step(std::chrono::seconds(1));
  EXPECT_EQ(rings(), 0);
}

}  // namespace
}  // namespace hf::agent
