#include "kube/fake/fake_client.h"

#include <gtest/gtest.h>

#include "tests/kube/fake/conformance.h"

namespace hf::kube {
namespace {

// The same scenarios run against a real API server in
// tests/kube/integration/fake_conformance_integration_test.cc.
class FakeClientConformance : public ::testing::Test {
 protected:
  FakeClient client_;
  const std::string ns_ = "default";
};

TEST_F(FakeClientConformance, NoOpWritesKeepTheResourceVersion) { conformance::NoOpWritesKeepTheResourceVersion(client_, ns_); }
TEST_F(FakeClientConformance, StaleWritesConflict) { conformance::StaleWritesConflict(client_, ns_); }
TEST_F(FakeClientConformance, FinalizersHoldADeletion) { conformance::FinalizersHoldADeletion(client_, ns_); }
TEST_F(FakeClientConformance, ApplyRemovesWhatTheManagerDropped) {
  conformance::ApplyRemovesWhatTheManagerDropped(client_, ns_);
}
TEST_F(FakeClientConformance, WatchFollowsTheSelector) { conformance::WatchFollowsTheSelector(client_, ns_); }
TEST_F(FakeClientConformance, MetadataOnlyGets) { conformance::MetadataOnlyGets(client_, ns_); }

// What only the fake offers.
TEST(FakeClientTest, ReactorsAnswerBeforeTheTrackerAndActionsAreRecorded) {
  FakeClient c;
  c.AddReactor([](const FakeAction& a) -> std::optional<Status> {
    if (a.verb == "create") return Status(Reason::kForbidden, "no", 403);
    return std::nullopt;
  });
  EXPECT_TRUE(IsForbidden(c.Create(resources::ConfigMaps(), "ns", conformance::ConfigMap("x", {})).status()));
  EXPECT_FALSE(c.Peek(resources::ConfigMaps(), "ns", "x").has_value());
  EXPECT_EQ(c.Writes(), std::vector<std::string>{"create configmaps/ns/x"});
}

TEST(FakeClientTest, StatusWritesTouchOnlyTheStatusAndOthersNeverIt) {
  FakeClient c;
  const GroupVersionResource pools{"hashfoundry.com", "v1alpha1", "devicepools", false};
  c.Add(pools, {{"metadata", {{"name", "p"}}}, {"spec", {{"a", 1}}}, {"status", {{"s", 1}}}});
  ASSERT_TRUE(c.Patch(pools, "", "p", PatchType::kMerge, R"({"spec":{"a":2},"status":{"s":2}})").ok());
  Json p = *c.Peek(pools, "", "p");
  EXPECT_EQ(p["spec"]["a"], 2);
  EXPECT_EQ(p["status"]["s"], 1);
  EXPECT_EQ(p["metadata"]["generation"], 2);
  ASSERT_TRUE(c.Patch(pools, "", "p", PatchType::kMerge, R"({"spec":{"a":3},"status":{"s":3}})",
                      {.subresource = "status"})
                  .ok());
  p = *c.Peek(pools, "", "p");
  EXPECT_EQ(p["spec"]["a"], 2);
  EXPECT_EQ(p["status"]["s"], 3);
  EXPECT_EQ(p["metadata"]["generation"], 2) << "a status write is no new generation";
}

}  // namespace
}  // namespace hf::kube
