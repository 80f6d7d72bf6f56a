// PreferredAllocation: the policy table (packed, balanced, none), NUMA
// awareness, replicas, must-include, health, determinism and refusals.
#include "agent/preferred_allocation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

namespace hf::agent {
namespace {

using api::AllocationPolicy;

Device Dev(std::string id, std::optional<int> numa, bool healthy = true) {
  Device d;
  d.id = std::move(id);
  d.numa_node = numa;
  d.healthy = healthy;
  return d;
}

// a0..a2 on NUMA node 0, b0..b1 on node 1.
DeviceSet TwoNodes() { return DeviceSet({Dev("a0", 0), Dev("a1", 0), Dev("a2", 0), Dev("b0", 1), Dev("b1", 1)}, 1); }

std::vector<std::string> AllIds(const DeviceSet& set) {
  std::vector<std::string> ids;
  for (const auto& a : set.advertised()) ids.push_back(a.id);
  return ids;
}

struct Case {
  std::string name;
  AllocationPolicy policy;
  std::vector<std::string> available;  // empty: every advertised id
  std::vector<std::string> must;
  int size;
  std::vector<std::string> want;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class TwoNodeTableTest : public ::testing::TestWithParam<Case> {};

TEST_P(TwoNodeTableTest, Chooses) {
  const Case& c = GetParam();
  DeviceSet set = TwoNodes();
  std::vector<std::string> got;
  grpc::Status st =
      PreferredAllocation(c.policy, set, c.available.empty() ? AllIds(set) : c.available, c.must, c.size, &got);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(got, c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Policies, TwoNodeTableTest,
    ::testing::Values(
        // packed: the smallest node that holds the whole request...
        Case{"packed_best_fit", AllocationPolicy::kPacked, {}, {}, 2, {"b0", "b1"}},
        Case{"packed_one", AllocationPolicy::kPacked, {}, {}, 1, {"b0"}},
        // ...ties to the lowest node...
        Case{"packed_tie", AllocationPolicy::kPacked, {"a0", "a1", "b0", "b1"}, {}, 2, {"a0", "a1"}},
        Case{"packed_fills_one_node", AllocationPolicy::kPacked, {}, {}, 3, {"a0", "a1", "a2"}},
        // ...the largest first when none holds it...
        Case{"packed_spill", AllocationPolicy::kPacked, {}, {}, 4, {"a0", "a1", "a2", "b0"}},
        // ...and the node of the must-include devices before any other.
        Case{"packed_must_node", AllocationPolicy::kPacked, {}, {"b0"}, 2, {"b0", "b1"}},
        Case{"packed_must_node_a", AllocationPolicy::kPacked, {}, {"a2"}, 2, {"a0", "a2"}},
        Case{"packed_must_two_nodes", AllocationPolicy::kPacked, {}, {"a0", "b0"}, 3, {"a0", "b0", "b1"}},
        Case{"packed_partially_used_node_first", AllocationPolicy::kPacked, {"a2", "b0", "b1"}, {}, 1, {"a2"}},
        // balanced: one node after the other.
        Case{"balanced_two", AllocationPolicy::kBalanced, {}, {}, 2, {"a0", "b0"}},
        Case{"balanced_four", AllocationPolicy::kBalanced, {}, {}, 4, {"a0", "a1", "b0", "b1"}},
        Case{"balanced_five", AllocationPolicy::kBalanced, {}, {}, 5, {"a0", "a1", "a2", "b0", "b1"}},
        Case{"balanced_must", AllocationPolicy::kBalanced, {}, {"a1"}, 2, {"a1", "b0"}},
        Case{"balanced_must_both", AllocationPolicy::kBalanced, {}, {"a1", "b1"}, 3, {"a0", "a1", "b1"}},
        Case{"none_lowest", AllocationPolicy::kNone, {}, {}, 2, {"a0", "a1"}},
        Case{"none_must", AllocationPolicy::kNone, {}, {"b1"}, 2, {"a0", "b1"}},
        Case{"all", AllocationPolicy::kPacked, {}, {}, 5, {"a0", "a1", "a2", "b0", "b1"}}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(PreferredAllocationTest, PackedPacksReplicasOntoOneDevice) {
  DeviceSet set({Dev("x", 0), Dev("y", 0)}, 2);
  std::vector<std::string> got;
  ASSERT_TRUE(PreferredAllocation(AllocationPolicy::kPacked, set, AllIds(set), {}, 2, &got).ok());
  EXPECT_EQ(got, (std::vector<std::string>{"x::0", "x::1"}));
  // x::0 is held elsewhere: its last replica goes before a fresh device.
  ASSERT_TRUE(PreferredAllocation(AllocationPolicy::kPacked, set, {"y::1", "x::1", "y::0"}, {}, 1, &got).ok());
  EXPECT_EQ(got, (std::vector<std::string>{"x::1"}));
  ASSERT_TRUE(PreferredAllocation(AllocationPolicy::kPacked, set, AllIds(set), {"y::1"}, 2, &got).ok());
  EXPECT_EQ(got, (std::vector<std::string>{"y::0", "y::1"}));
}

TEST(PreferredAllocationTest, BalancedSpreadsReplicasOverDevices) {
  DeviceSet set({Dev("x", 0), Dev("y", 0), Dev("z", 1)}, 2);
  std::vector<std::string> got;
  ASSERT_TRUE(PreferredAllocation(AllocationPolicy::kBalanced, set, AllIds(set), {}, 3, &got).ok());
  EXPECT_EQ(got, (std::vector<std::string>{"x::0", "y::0", "z::0"}));
  ASSERT_TRUE(PreferredAllocation(AllocationPolicy::kBalanced, set, AllIds(set), {"x::0"}, 2, &got).ok());
  EXPECT_EQ(got, (std::vector<std::string>{"x::0", "z::0"}));
}

TEST(PreferredAllocationTest, WithoutNumaPackedTakesLowestIds) {
  DeviceSet set({Dev("d-1", std::nullopt), Dev("d-2", std::nullopt), Dev("d-10", std::nullopt)}, 1);
  std::vector<std::string> got;
  ASSERT_TRUE(PreferredAllocation(AllocationPolicy::kPacked, set, {"d-10", "d-2", "d-1"}, {}, 2, &got).ok());
  EXPECT_EQ(got, (std::vector<std::string>{"d-1", "d-2"}));
}

TEST(PreferredAllocationTest, UnhealthyAndUnknownIdsOnlyMakeUpTheCount) {
  DeviceSet set({Dev("a0", 0, false), Dev("a1", 0), Dev("b0", 1)}, 1);
  std::vector<std::string> got;
  ASSERT_TRUE(PreferredAllocation(AllocationPolicy::kPacked, set, {"a0", "a1", "ghost"}, {}, 1, &got).ok());
  EXPECT_EQ(got, (std::vector<std::string>{"a1"}));
  ASSERT_TRUE(PreferredAllocation(AllocationPolicy::kBalanced, set, {"a0", "ghost", "b0"}, {}, 3, &got).ok());
  EXPECT_EQ(got, (std::vector<std::string>{"a0", "b0", "ghost"}));
}

TEST(PreferredAllocationTest, IsDeterministic) {
  DeviceSet set = TwoNodes();
  std::vector<std::string> ids = AllIds(set);
  for (AllocationPolicy policy : {AllocationPolicy::kPacked, AllocationPolicy::kBalanced, AllocationPolicy::kNone}) {
    std::vector<std::string> first;
    ASSERT_TRUE(PreferredAllocation(policy, set, ids, {"a1"}, 3, &first).ok());
    std::mt19937 rng(7);
    for (int i = 0; i < 20; ++i) {
      std::vector<std::string> shuffled = ids;
      std::shuffle(shuffled.begin(), shuffled.end(), rng);
      shuffled.push_back(shuffled.front());  // duplicates do not count twice
      std::vector<std::string> got;
      ASSERT_TRUE(PreferredAllocation(policy, set, shuffled, {"a1", "a1"}, 3, &got).ok());
      EXPECT_EQ(got, first);
    }
  }
}

struct Refusal {
  std::string name;
  std::vector<std::string> available;
  std::vector<std::string> must;
  int size;
  std::string want;
};

class RefusalTest : public ::testing::TestWithParam<Refusal> {};

TEST_P(RefusalTest, IsInvalidArgument) {
  std::vector<std::string> got{"stale"};
  grpc::Status st = PreferredAllocation(AllocationPolicy::kPacked, TwoNodes(), GetParam().available, GetParam().must,
                                        GetParam().size, &got);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), ::testing::HasSubstr(GetParam().want));
  EXPECT_TRUE(got.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RefusalTest,
    ::testing::Values(Refusal{"zero", {"a0"}, {}, 0, "must be positive"},
                      Refusal{"negative", {"a0"}, {}, -3, "must be positive"},
                      Refusal{"must_not_available", {"a0", "a1"}, {"b0"}, 2, "\"b0\""},
                      Refusal{"must_exceeds_size", {"a0", "a1", "a2"}, {"a0", "a1"}, 1, "exceed"},
                      Refusal{"too_few", {"a0", "a1"}, {}, 3, "exceeds the 2 available"},
                      Refusal{"empty", {}, {}, 1, "exceeds the 0 available"}),
    [](const ::testing::TestParamInfo<Refusal>& info) { return info.param.name; });

// 1024 devices of 16 replicas on four NUMA nodes. How long this takes is
// bounded by the test binary's CTest timeout rather than measured: a wall
// time measures the machine (a sanitizer, a loaded CI runner) as much as
// the code.
TEST(PreferredAllocationTest, LargeRequests) {
  std::vector<Device> devices;
  for (int i = 0; i < 1024; ++i) devices.push_back(Dev("d" + std::to_string(i), i % 4));
  DeviceSet set(std::move(devices), 16);
  std::vector<std::string> ids = AllIds(set);
  std::vector<std::string> got;
  ASSERT_TRUE(PreferredAllocation(AllocationPolicy::kBalanced, set, ids, {}, 16384, &got).ok());
  EXPECT_EQ(got.size(), 16384u);
  ASSERT_TRUE(PreferredAllocation(AllocationPolicy::kPacked, set, ids, {}, 10000, &got).ok());
  ASSERT_EQ(got.size(), 10000u);
  // Packed: two whole nodes (4096 each), then whole devices of the third.
  std::map<int, int> per_node;
  std::map<size_t, int> per_device;
  for (const std::string& id : got) {
    size_t d = set.IndexOf(id);
    ASSERT_NE(d, DeviceSet::npos) << id;
    ++per_node[*set.devices()[d].numa_node];
    ++per_device[d];
  }
  EXPECT_EQ(per_node, (std::map<int, int>{{0, 4096}, {1, 4096}, {2, 1808}}));
  for (const auto& [d, n] : per_device) EXPECT_EQ(n, 16) << set.devices()[d].id;
}

}  // namespace
}  // namespace hf::agent
