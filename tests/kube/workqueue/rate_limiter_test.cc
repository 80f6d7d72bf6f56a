#include "kube/workqueue/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kube/clock.h"

namespace hf::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(ItemExponentialFailureRateLimiterTest, DoublesPerFailureUpToTheCap) {
  ItemExponentialFailureRateLimiter limiter(milliseconds(1), milliseconds(5));
  EXPECT_EQ(limiter.When("a"), milliseconds(1));
  EXPECT_EQ(limiter.When("a"), milliseconds(2));
  EXPECT_EQ(limiter.When("a"), milliseconds(4));
  EXPECT_EQ(limiter.When("a"), milliseconds(5));
  EXPECT_EQ(limiter.When("a"), milliseconds(5));
  EXPECT_EQ(limiter.NumRequeues("a"), 5);
  // Keys back off independently.
  EXPECT_EQ(limiter.When("b"), milliseconds(1));
}

TEST(ItemExponentialFailureRateLimiterTest, LongStreakSaturatesInsteadOfOverflowing) {
  ItemExponentialFailureRateLimiter limiter(milliseconds(5), seconds(1000));
  Clock::Duration last{};
  for (int i = 0; i < 200; ++i) last = limiter.When("a");
  EXPECT_EQ(last, seconds(1000));
}

TEST(ItemExponentialFailureRateLimiterTest, ForgetRestartsFromBase) {
  ItemExponentialFailureRateLimiter limiter(milliseconds(1), seconds(1));
  limiter.When("a");
  limiter.When("a");
  limiter.Forget("a");
  EXPECT_EQ(limiter.NumRequeues("a"), 0);
  EXPECT_EQ(limiter.When("a"), milliseconds(1));
}

TEST(TokenBucketTest, AllowsTheBurstThenRefillsAtTheRate) {
  FakeClock clock;
  TokenBucket bucket(/*qps=*/10, /*burst=*/3, clock);
  EXPECT_TRUE(bucket.TryAccept());
  EXPECT_TRUE(bucket.TryAccept());
  EXPECT_TRUE(bucket.TryAccept());
  EXPECT_FALSE(bucket.TryAccept());
  clock.Step(milliseconds(99));
  EXPECT_FALSE(bucket.TryAccept());
  clock.Step(milliseconds(1));
  EXPECT_TRUE(bucket.TryAccept());
  // A long idle spell refills only up to the burst.
  clock.Step(seconds(60));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(bucket.TryAccept());
  EXPECT_FALSE(bucket.TryAccept());
}

TEST(TokenBucketTest, ReserveQueuesCallersBehindEachOther) {
  FakeClock clock;
  TokenBucket bucket(/*qps=*/10, /*burst=*/1, clock);
  EXPECT_EQ(bucket.Reserve(), Clock::Duration::zero());
  EXPECT_EQ(bucket.Reserve(), milliseconds(100));
  EXPECT_EQ(bucket.Reserve(), milliseconds(200));
  clock.Step(milliseconds(200));
  // Both borrowed tokens are now paid back, and no more.
  EXPECT_FALSE(bucket.TryAccept());
  EXPECT_EQ(bucket.Reserve(), milliseconds(100));
}

TEST(TokenBucketTest, WaitBlocksOnTheClockUntilATokenIsReady) {
  FakeClock clock;
  TokenBucket bucket(/*qps=*/2, /*burst=*/1, clock);
  bucket.Wait();  // the initial token: must not block.
  std::atomic<bool> done = false;
  std::thread caller([&] {
    bucket.Wait();
    done = true;
  });
  clock.BlockUntilWaiters(1);
  EXPECT_FALSE(done);
  clock.Step(milliseconds(500));
  caller.join();
  EXPECT_TRUE(done);
}

TEST(BucketRateLimiterTest, LimitsAllKeysTogetherAndKeepsNoHistory) {
  FakeClock clock;
  BucketRateLimiter limiter(/*qps=*/1, /*burst=*/2, clock);
  EXPECT_EQ(limiter.When("a"), Clock::Duration::zero());
  EXPECT_EQ(limiter.When("b"), Clock::Duration::zero());
  EXPECT_EQ(limiter.When("c"), seconds(1));
  EXPECT_EQ(limiter.NumRequeues("a"), 0);
}

TEST(MaxOfRateLimiterTest, TakesTheLongestWaitAndForgetsEverywhere) {
  FakeClock clock;
  std::vector<std::unique_ptr<RateLimiter>> limiters;
  limiters.push_back(std::make_unique<ItemExponentialFailureRateLimiter>(milliseconds(10),
                                                                         seconds(100)));
  limiters.push_back(std::make_unique<BucketRateLimiter>(/*qps=*/1, /*burst=*/1, clock));
  MaxOfRateLimiter limiter(std::move(limiters));

  EXPECT_EQ(limiter.When("a"), milliseconds(10));  // backoff beats a free token.
  EXPECT_EQ(limiter.When("b"), seconds(1));        // the empty bucket beats backoff.
  EXPECT_EQ(limiter.NumRequeues("a"), 1);
  limiter.Forget("a");
  EXPECT_EQ(limiter.NumRequeues("a"), 0);
}

TEST(DefaultControllerRateLimiterTest, StartsAt5msAndCapsOverallRateAfterTheBurst) {
  FakeClock clock;
  std::unique_ptr<RateLimiter> limiter = DefaultControllerRateLimiter(clock);
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(limiter->When("key-" + std::to_string(i)), milliseconds(5)) << i;
  }
  // The 100-token burst is spent: the next fresh key waits for the bucket.
  EXPECT_EQ(limiter->When("one-more"), milliseconds(100));
}

}  // namespace
}  // namespace hf::kube
