#include "kube/workqueue/rate_limiting_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "kube/clock.h"
#include "kube/workqueue/rate_limiter.h"

namespace hf::kube {
namespace {

using std::chrono::seconds;

TEST(RateLimitingQueueTest, AddRateLimitedBacksOffUntilForgotten) {
  FakeClock clock;
  RateLimitingQueue queue(
      std::make_unique<ItemExponentialFailureRateLimiter>(seconds(1), seconds(60)), clock);

  queue.AddRateLimited("a");
  EXPECT_EQ(queue.NumRequeues("a"), 1);
  EXPECT_EQ(queue.Len(), 0);
  clock.Step(seconds(1));
  ASSERT_EQ(queue.Get(), "a");
  queue.Done("a");

  queue.AddRateLimited("a");  // second failure: 2s.
  clock.Step(seconds(1));
  EXPECT_EQ(queue.Len(), 0);
  clock.Step(seconds(1));
  ASSERT_EQ(queue.Get(), "a");
  queue.Done("a");

  queue.Forget("a");
  EXPECT_EQ(queue.NumRequeues("a"), 0);
  queue.AddRateLimited("a");  // back to 1s.
  clock.Step(seconds(1));
  EXPECT_EQ(queue.Len(), 1);
}

}  // namespace
}  // namespace hf::kube
