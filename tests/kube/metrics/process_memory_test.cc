#include "kube/metrics/process_memory.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hf::kube {
namespace {

// The families a scrape shows, as name{state} -> value.
std::map<std::string, double> Scrape() {
  std::map<std::string, double> out;
  for (const auto& family : ProcessMemory().Collect()) {
    for (const auto& m : family.metric) {
      std::string key = family.name;
      for (const auto& l : m.label) key += "{" + l.name + "=" + l.value + "}";
      out[key] = m.gauge.value;
    }
  }
  return out;
}

TEST(ProcessMemoryTest, HeapInUseFollowsLiveAllocationsAndRssIsRead) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // A sanitizer replaces malloc; glibc's mallinfo2 then counts nothing.
  GTEST_SKIP() << "glibc's heap statistics are not kept under a sanitizer's allocator";
#endif
  auto before = Scrape();
  ASSERT_TRUE(before.count("process_resident_memory_bytes"));
  EXPECT_GT(before["process_resident_memory_bytes"], 1 << 20);
  ASSERT_TRUE(before.count("process_heap_bytes{state=in_use}"));
  ASSERT_TRUE(before.count("process_heap_bytes{state=free}"));

  constexpr size_t kBlock = 64 << 10;  // below the mmap threshold: from the arena
  constexpr int kBlocks = 256;         // 16 MiB
  std::vector<std::unique_ptr<char[]>> blocks;
  for (int i = 0; i < kBlocks; ++i) {
    blocks.emplace_back(new char[kBlock]);
    std::memset(blocks.back().get(), 1, kBlock);
  }
  auto during = Scrape();
  EXPECT_GE(during["process_heap_bytes{state=in_use}"] - before["process_heap_bytes{state=in_use}"],
            kBlock * kBlocks);
  blocks.clear();
  auto after = Scrape();
  EXPECT_LT(after["process_heap_bytes{state=in_use}"],
            during["process_heap_bytes{state=in_use}"] - kBlock * kBlocks / 2);
}

}  // namespace
}  // namespace hf::kube
