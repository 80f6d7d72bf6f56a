#include "kube/mutex.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <thread>

namespace hf::kube {
namespace {

TEST(MutexTest, MutexLockHoldsForItsScope) {
  Mutex mu;
  {
    MutexLock l(mu);
    EXPECT_FALSE(mu.TryLock());
  }
  ASSERT_TRUE(mu.TryLock());
  mu.Unlock();
}

TEST(MutexTest, UnlockAndLockInsideTheScope) {
  Mutex mu;
  MutexLock l(mu);
  l.Unlock();
  ASSERT_TRUE(mu.TryLock());  // released: another holder may take it
  mu.Unlock();
  l.Lock();
  EXPECT_FALSE(mu.TryLock());
}

TEST(MutexTest, DestroyedAfterUnlockReleasesNothingTwice) {
  Mutex mu;
  {
    MutexLock l(mu);
    l.Unlock();
  }
  ASSERT_TRUE(mu.TryLock());
  mu.Unlock();
}

TEST(MutexTest, ConditionVariableWaitsThroughNative) {
  Mutex mu;
  std::condition_variable cv;
  bool ready = false;
  std::thread setter([&] {
    MutexLock l(mu);
    ready = true;
    cv.notify_all();
  });
  {
    MutexLock l(mu);
    while (!ready) cv.wait(l.native());
    EXPECT_TRUE(ready);
  }
  setter.join();
}

TEST(SharedMutexTest, ReadersShareWritersExclude) {
  SharedMutex mu;
  {
    ReaderLock a(mu);
    // A second reader on another thread gets in while `a` is held.
    std::thread other([&] { ReaderLock b(mu); });
    other.join();
  }
  // A reader started while a writer holds the lock reads only after it.
  bool wrote = false;
  std::thread reader;
  {
    WriterLock w(mu);
    reader = std::thread([&] {
      ReaderLock r(mu);
      EXPECT_TRUE(wrote);
    });
    wrote = true;
  }
  reader.join();
}

}  // namespace
}  // namespace hf::kube
