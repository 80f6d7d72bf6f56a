#include "operator/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

namespace hf::controller {
namespace {

TEST(TaskPoolTest, EveryIndexOnceWithItsStatus) {
  TaskPool pool(3);
  std::vector<std::atomic<int>> calls(100);
  auto results = pool.ParallelFor(100, 4, [&](size_t i) {
    calls[i].fetch_add(1);
    return i % 7 == 0 ? kube::Status(kube::Reason::kConflict, "n" + std::to_string(i)) : kube::Status::Ok();
  });
  ASSERT_EQ(results.size(), 100u);
  for (size_t i = 0; i < 100; ++i) {
    EXPECT_EQ(calls[i].load(), 1) << i;
    EXPECT_EQ(results[i].ok(), i % 7 != 0) << i;
  }
  EXPECT_TRUE(pool.ParallelFor(0, 4, [](size_t) { return kube::Status::Ok(); }).empty());
}

// The point of the pool: the same threads across calls, never more than
// asked for at once, and no thread started per call.
TEST(TaskPoolTest, TheSameThreadsServeEveryCallAndConcurrencyIsBounded) {
  TaskPool pool(3);
  std::mutex mu;
  std::set<std::thread::id> seen;
  std::atomic<int> running{0}, most{0};
  for (int call = 0; call < 20; ++call) {
    pool.ParallelFor(50, 4, [&](size_t) {
      int now = running.fetch_add(1) + 1;
      for (int m = most.load(); now > m && !most.compare_exchange_weak(m, now);) {
      }
      {
        std::lock_guard<std::mutex> l(mu);
        seen.insert(std::this_thread::get_id());
      }
      std::this_thread::yield();
      running.fetch_sub(1);
      return kube::Status::Ok();
    });
  }
  EXPECT_LE(seen.size(), 4u) << "the caller and the pool's 3 threads, whatever the number of calls";
  EXPECT_LE(most.load(), 4);
  EXPECT_EQ(pool.threads(), 3);
}

TEST(TaskPoolTest, CallsFromSeveralThreadsAtOnceAllComplete) {
  TaskPool pool(2);
  std::atomic<int> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 6; ++c) {
    callers.emplace_back([&] {
      auto r = pool.ParallelFor(200, 16, [&](size_t) {
        total.fetch_add(1);
        return kube::Status::Ok();
      });
      EXPECT_EQ(r.size(), 200u);
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 6 * 200);
}

TEST(TaskPoolTest, WithoutThreadsTheCallerDoesItAll) {
  TaskPool pool(0);
  std::set<std::thread::id> seen;
  pool.ParallelFor(10, 16, [&](size_t) {
    seen.insert(std::this_thread::get_id());
    return kube::Status::Ok();
  });
  EXPECT_EQ(seen, std::set<std::thread::id>{std::this_thread::get_id()});
}

}  // namespace
}  // namespace hf::controller
