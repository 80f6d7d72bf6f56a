#include "kube/workqueue/queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kube/clock.h"

namespace hf::kube {
namespace {

TEST(QueueTest, DeduplicatesKeysWhileQueuedAndKeepsFifoOrder) {
  FakeClock clock;
  Queue queue(clock);
  queue.Add("a");
  queue.Add("b");
  queue.Add("a");
  EXPECT_EQ(queue.Len(), 2);
  EXPECT_EQ(queue.Get(), "a");
  EXPECT_EQ(queue.Get(), "b");
  EXPECT_EQ(queue.Len(), 0);
}

TEST(QueueTest, KeyAddedWhileProcessingIsDeliveredOnceAfterDone) {
  FakeClock clock;
  Queue queue(clock);
  queue.Add("a");
  ASSERT_EQ(queue.Get(), "a");

  queue.Add("a");
  queue.Add("a");
  queue.Add("b");
  // "a" is held, so the next worker gets "b", not a second copy of "a".
  EXPECT_EQ(queue.Len(), 1);
  EXPECT_EQ(queue.Get(), "b");
  EXPECT_EQ(queue.Len(), 0);

  queue.Done("a");
  EXPECT_EQ(queue.Len(), 1);
  EXPECT_EQ(queue.Get(), "a");
  queue.Done("a");
  queue.Done("b");
  EXPECT_EQ(queue.Len(), 0);
}

TEST(QueueTest, DoneForAKeyNotHeldIsIgnored) {
  FakeClock clock;
  Queue queue(clock);
  queue.Add("a");
  queue.Done("a");  // queued, not handed out: must not be queued twice.
  EXPECT_EQ(queue.Len(), 1);
}

TEST(QueueTest, GetBlocksUntilAKeyIsAdded) {
  FakeClock clock;
  Queue queue(clock);
  std::optional<std::string> got;
  std::thread worker([&] { got = queue.Get(); });
  clock.BlockUntilWaiters(1);
  queue.Add("a");
  worker.join();
  EXPECT_EQ(got, "a");
}

// Two worker threads; each holds its key until the test releases it, so
// whether the second worker is handed "a" while the first holds it is decided
// by the queue alone, not by timing.
TEST(QueueTest, ConcurrentWorkersNeverHoldTheSameKeyAtOnce) {
  FakeClock clock;
  Queue queue(clock);
  std::mutex mu;
  std::condition_variable changed;
  std::multiset<std::string> held;  // guarded by mu, like the rest.
  std::multiset<std::string> finished;
  std::set<std::string> released;

  auto work = [&] {
    while (std::optional<std::string> key = queue.Get()) {
      std::unique_lock<std::mutex> lock(mu);
      held.insert(*key);
      changed.notify_all();
      changed.wait(lock, [&] { return released.contains(*key); });
      held.erase(held.find(*key));
      finished.insert(*key);
      changed.notify_all();
      lock.unlock();
      queue.Done(*key);
    }
  };
  std::thread first(work);
  std::thread second(work);
  auto wait_for = [&](auto done) {
    std::unique_lock<std::mutex> lock(mu);
    changed.wait(lock, done);
  };

  queue.Add("a");
  wait_for([&] { return held.size() == 1; });
  queue.Add("a");
  queue.Add("b");
  // The idle worker takes the next key: "b" if the queue holds "a" back, a
  // second "a" if it does not.
  wait_for([&] { return held.size() == 2; });
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(held, (std::multiset<std::string>{"a", "b"}));
    released = {"a", "b"};
    changed.notify_all();
  }
  // Done("a") queues the re-added "a" exactly once.
  wait_for([&] { return finished.size() == 3; });
  queue.ShutDownWithDrain();
  first.join();
  second.join();
  EXPECT_EQ(finished, (std::multiset<std::string>{"a", "a", "b"}));
}

TEST(QueueTest, ManyWorkersDrainEveryKeyWithoutOverlap) {
  constexpr int kWorkers = 4;
  constexpr int kKeys = 50;
  FakeClock clock;
  Queue queue(clock);
  std::mutex mu;
  std::set<std::string> held;  // guarded by mu, like the rest.
  std::set<std::string> seen;
  int overlaps = 0;

  std::vector<std::thread> workers;
  for (int i = 0; i < kWorkers; ++i) {
    workers.emplace_back([&] {
      while (std::optional<std::string> key = queue.Get()) {
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!held.insert(*key).second) ++overlaps;
          seen.insert(*key);
        }
        // Re-adding while holding is when a queue without a processing set
        // would hand the key to a second worker.
        queue.Add(*key);
        {
          std::lock_guard<std::mutex> lock(mu);
          held.erase(*key);
        }
        queue.Done(*key);
      }
    });
  }
  for (int i = 0; i < kKeys; ++i) queue.Add("key-" + std::to_string(i));
  queue.ShutDownWithDrain();
  for (std::thread& worker : workers) worker.join();

  EXPECT_EQ(overlaps, 0);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kKeys));
  EXPECT_EQ(queue.Len(), 0);
}

TEST(QueueTest, ShutDownUnblocksGet) {
  FakeClock clock;
  Queue queue(clock);
  std::optional<std::string> got = "unset";
  std::thread worker([&] { got = queue.Get(); });
  clock.BlockUntilWaiters(1);
  queue.ShutDown();
  worker.join();
  EXPECT_EQ(got, std::nullopt);
  EXPECT_TRUE(queue.ShuttingDown());
}

TEST(QueueTest, ShutDownHandsOutQueuedKeysAndRefusesNewOnes) {
  FakeClock clock;
  Queue queue(clock);
  queue.Add("a");
  queue.ShutDown();
  queue.Add("b");
  EXPECT_EQ(queue.Len(), 1);
  EXPECT_EQ(queue.Get(), "a");
  EXPECT_EQ(queue.Get(), std::nullopt);
}

TEST(QueueTest, ShutDownWithDrainWaitsForDone) {
  FakeClock clock;
  Queue queue(clock);
  queue.Add("a");
  ASSERT_EQ(queue.Get(), "a");

  std::atomic<bool> returned = false;
  std::thread closer([&] {
    queue.ShutDownWithDrain();
    returned = true;
  });
  clock.BlockUntilWaiters(1);
  EXPECT_TRUE(queue.ShuttingDown());
  EXPECT_FALSE(returned);
  queue.Done("a");
  closer.join();
  EXPECT_TRUE(returned);
}

}  // namespace
}  // namespace hf::kube
