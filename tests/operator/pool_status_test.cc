#include "operator/pool_status.h"

#include <gtest/gtest.h>

#include "api/names.h"

namespace hf::controller {
namespace {

using api::ConditionStatus;

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600));

api::DevicePool Pool() {
  api::DevicePool p;
  p.metadata.name = "pool";
  p.metadata.generation = 2;
  p.spec.resource_name = "hashfoundry.com/dev";
  return p;
}

api::DevicePoolNode Report(const std::string& node, int total, int healthy, bool registered, int allocated = 0) {
  api::DevicePoolNode r;
  r.spec = {"pool", node};
  r.status.counts = {total, healthy, allocated};
  r.status.registered = registered;
  return r;
}

nlohmann::json DaemonSet(int desired, int updated, int ready, int available, int gen = 1, int observed = 1) {
  return {{"metadata", {{"generation", gen}}},
          {"status",
           {{"observedGeneration", observed},
            {"desiredNumberScheduled", desired},
            {"updatedNumberScheduled", updated},
            {"numberReady", ready},
            {"numberAvailable", available}}}};
}

ConditionStatus Cond(const api::DevicePoolStatus& st, std::string_view type, std::string* reason = nullptr) {
  const auto* c = api::FindCondition(st.conditions, type);
  EXPECT_NE(c, nullptr) << type;
  if (c == nullptr) return ConditionStatus::kUnknown;
  if (reason != nullptr) *reason = c->reason;
  return c->status;
}

TEST(PoolStatusTest, ReadyWhenRolledOutAndRegistered) {
  Observed seen;
  seen.selected = seen.labelled = 2;
  seen.reports = {Report("a", 4, 4, true, 1), Report("b", 4, 4, true)};
  seen.daemon_set = DaemonSet(2, 2, 2, 2);
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(st.observed_generation, 2);
  EXPECT_EQ(Cond(st, api::kConditionReady), ConditionStatus::kTrue);
  EXPECT_EQ(Cond(st, api::kConditionProgressing), ConditionStatus::kFalse);
  EXPECT_EQ(Cond(st, api::kConditionDegraded), ConditionStatus::kFalse);
  EXPECT_EQ(st.devices.total, 8);
  EXPECT_EQ(st.devices.allocated, 1);
  EXPECT_EQ(st.nodes.registered, 2);
  EXPECT_EQ(st.nodes.ready, 2);
  EXPECT_TRUE(st.problem_nodes.empty());
  for (const auto& c : st.conditions) EXPECT_EQ(c.observed_generation, 2) << c.type;
}

TEST(PoolStatusTest, ProgressingDuringRolloutAndOldGeneration) {
  Observed seen;
  seen.selected = seen.labelled = 2;
  seen.reports = {Report("a", 4, 4, true), Report("b", 4, 4, true)};
  seen.daemon_set = DaemonSet(2, 2, 2, 2, /*gen=*/2, /*observed=*/1);
  std::string reason;
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(Cond(st, api::kConditionProgressing, &reason), ConditionStatus::kTrue);
  EXPECT_EQ(reason, "RollingOut");
  EXPECT_EQ(Cond(st, api::kConditionReady), ConditionStatus::kFalse);
}

TEST(PoolStatusTest, UnhealthyDevicesDegradeAndNameTheNode) {
  Observed seen;
  seen.selected = seen.labelled = 2;
  seen.reports = {Report("a", 4, 3, true), Report("b", 4, 4, true)};
  seen.daemon_set = DaemonSet(2, 2, 2, 2);
  std::string reason;
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(Cond(st, api::kConditionDegraded, &reason), ConditionStatus::kTrue);
  EXPECT_EQ(reason, "DevicesUnhealthy");
  EXPECT_EQ(Cond(st, api::kConditionReady), ConditionStatus::kFalse);
  ASSERT_EQ(st.problem_nodes.size(), 1u);
  EXPECT_EQ(st.problem_nodes[0].node, "a");
  EXPECT_EQ(st.devices.healthy, 7);
}

TEST(PoolStatusTest, ConflictsAndMonitoring) {
  Observed seen;
  seen.selected = 3;
  seen.labelled = 1;
  seen.conflicts = {{"b", "older"}, {"c", "older"}};
  seen.monitoring_wanted = true;
  std::string reason;
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(Cond(st, api::kConditionConflict, &reason), ConditionStatus::kTrue);
  EXPECT_EQ(reason, "NodesClaimedByOlderPool");
  EXPECT_NE(api::FindCondition(st.conditions, api::kConditionConflict)->message.find("b, c"), std::string::npos);
  EXPECT_EQ(Cond(st, api::kConditionMonitoringAvailable, &reason), ConditionStatus::kFalse);
  EXPECT_EQ(reason, "CRDsNotInstalled");
  EXPECT_EQ(st.problem_nodes.size(), 2u);
}

TEST(PoolStatusTest, NoNodesIsReadyAndSaysWhy) {
  std::string reason;
  auto st = ComputeStatus(Pool(), Observed{}, kNow);
  EXPECT_EQ(Cond(st, api::kConditionReady, &reason), ConditionStatus::kTrue);
  EXPECT_EQ(reason, "NoMatchingNodes");
}

TEST(PoolStatusTest, SameInputsGiveAnEqualStatusLater) {
  Observed seen;
  seen.selected = seen.labelled = 1;
  seen.reports = {Report("a", 4, 4, true)};
  seen.daemon_set = DaemonSet(1, 1, 1, 1);
  auto pool = Pool();
  pool.status = ComputeStatus(pool, seen, kNow);
  // An hour later, nothing changed: no new transition times, so no write.
  EXPECT_EQ(ComputeStatus(pool, seen, kNow + std::chrono::hours(1)), pool.status);
  seen.reports[0].status.counts.healthy = 3;
  auto changed = ComputeStatus(pool, seen, kNow + std::chrono::hours(1));
  EXPECT_NE(api::FindCondition(changed.conditions, api::kConditionDegraded)->last_transition_time,
            api::FindCondition(pool.status.conditions, api::kConditionDegraded)->last_transition_time);
}

TEST(PoolStatusTest, ErrorsAndInvalidSpecs) {
  Observed seen;
  seen.error = "applying children: Forbidden: nope";
  std::string reason;
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(Cond(st, api::kConditionDegraded, &reason), ConditionStatus::kTrue);
  EXPECT_EQ(reason, "ReconcileError");

  auto bad = InvalidStatus(Pool().metadata, {}, "spec.discovery: exactly one method", kNow);
  EXPECT_EQ(Cond(bad, api::kConditionInvalid), ConditionStatus::kTrue);
  EXPECT_EQ(Cond(bad, api::kConditionReady, &reason), ConditionStatus::kFalse);
  EXPECT_EQ(reason, "InvalidSpec");
}

}  // namespace
}  // namespace hf::controller
