#include "kube/thread_name.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <string>
#include <thread>

namespace hf::kube {
namespace {

std::string NameOf(pthread_t t) {
  char buf[16] = {};
  EXPECT_EQ(pthread_getname_np(t, buf, sizeof buf), 0);
  return buf;
}

TEST(ThreadNameTest, NamesTheCallingThreadOnly) {
  const std::string mine = NameOf(pthread_self());
  std::string seen;
  std::thread t([&] {
    SetThreadName("reconcile");
    seen = NameOf(pthread_self());
  });
  t.join();
  EXPECT_EQ(seen, "reconcile");
  EXPECT_EQ(NameOf(pthread_self()), mine);
}

TEST(ThreadNameTest, LongNamesAreCutToFifteenCharacters) {
  std::string seen;
  std::thread t([&] {
    SetThreadName("a-name-longer-than-fifteen");
    seen = NameOf(pthread_self());
  });
  t.join();
  EXPECT_EQ(seen, "a-name-longer-t");
}

}  // namespace
}  // namespace hf::kube
