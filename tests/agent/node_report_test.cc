// The DevicePoolNode the agent writes: status from observations, the
// object with its ownerReference, the status patch; all accepted by the
// API's own decoder.
#include "agent/node_report.h"

#include <gtest/gtest.h>

#include "agent/version.h"

namespace hf::agent {
namespace {

std::shared_ptr<const DeviceState> State(std::string scan_error = "") {
  Device a;
  a.id = "sim-0";
  a.numa_node = 1;
  a.nodes.push_back({"/tmp/dev/sim-0", "/dev/sim-0", NodeKind::kFile});
  Device b;
  b.id = "sim-1";
  b.healthy = false;
  auto s = std::make_shared<DeviceState>();
  s->set = DeviceSet({a, b}, 2);
  s->scanned = true;
  s->scan_error = std::move(scan_error);
  return s;
}

const auto kT0 = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
const auto kT1 = kT0 + std::chrono::hours(1);

TEST(NodeReportTest, StatusFromObservation) {
  api::DevicePoolNodeStatus s =
      BuildReportStatus({State(), true, 3, "simulated: 2 files", "5d41402abc4b2a76"}, {}, kT0);
  ASSERT_EQ(s.devices.size(), 2u);
  EXPECT_EQ(s.devices[0], (api::Device{"sim-0", api::DeviceHealth::kHealthy, 1, "/tmp/dev/sim-0"}));
  EXPECT_EQ(s.devices[1], (api::Device{"sim-1", api::DeviceHealth::kUnhealthy, std::nullopt, ""}));
  EXPECT_EQ(s.counts, (api::DeviceCounts{4, 2, 3})) << "advertised counts, after sharing";
  EXPECT_TRUE(s.registered);
  EXPECT_EQ(s.agent_version, kAgentVersion);
  EXPECT_EQ(s.agent_revision, "5d41402abc4b2a76");
  ASSERT_EQ(s.conditions.size(), 1u);
  EXPECT_EQ(s.conditions[0].type, kConditionDiscoveryFailed);
  EXPECT_EQ(s.conditions[0].status, api::ConditionStatus::kFalse);
  EXPECT_EQ(s.conditions[0].message, "simulated: 2 files: found 2 devices");
  EXPECT_EQ(s.conditions[0].last_transition_time, api::FormatTime(kT0));
}

TEST(NodeReportTest, ConditionKeepsItsTransitionTimeUntilItFlips) {
  api::DevicePoolNodeStatus first = BuildReportStatus({State(), true, 0, "d"}, {}, kT0);
  api::DevicePoolNodeStatus same = BuildReportStatus({State(), true, 0, "d"}, first.conditions, kT1);
  EXPECT_EQ(same, first) << "nothing new, nothing to write";
  api::DevicePoolNodeStatus failed = BuildReportStatus({State("no sysfs"), true, 0, "d"}, first.conditions, kT1);
  EXPECT_EQ(failed.conditions[0].status, api::ConditionStatus::kTrue);
  EXPECT_EQ(failed.conditions[0].reason, "ScanFailed");
  EXPECT_EQ(failed.conditions[0].message, "d: no sysfs");
  EXPECT_EQ(failed.conditions[0].last_transition_time, api::FormatTime(kT1));
}

TEST(NodeReportTest, ObjectIsOwnedByThePool) {
  nlohmann::json obj = ReportObject({"gpu", "uid-1", "node-1"});
  EXPECT_EQ(obj["metadata"]["name"], "gpu.node-1");
  EXPECT_EQ(obj["metadata"]["labels"]["hashfoundry.com/pool"], "gpu");
  EXPECT_EQ(obj["metadata"]["labels"]["hashfoundry.com/node"], "node-1");
  ASSERT_EQ(obj["metadata"]["ownerReferences"].size(), 1u);
  const nlohmann::json& ref = obj["metadata"]["ownerReferences"][0];
  EXPECT_EQ(ref["apiVersion"], "hashfoundry.com/v1alpha1");
  EXPECT_EQ(ref["kind"], "DevicePool");
  EXPECT_EQ(ref["name"], "gpu");
  EXPECT_EQ(ref["uid"], "uid-1");
  EXPECT_EQ(ref["controller"], true);
  EXPECT_EQ(obj["spec"], (nlohmann::json{{"pool", "gpu"}, {"node", "node-1"}}));
  EXPECT_FALSE(obj.contains("status"));
  EXPECT_FALSE(ReportObject({"gpu", "", "node-1"})["metadata"].contains("ownerReferences"));
}

TEST(NodeReportTest, StatusPatchCarriesOnlyTheStatus) {
  api::DevicePoolNodeStatus s = BuildReportStatus({State(), false, 0, "d", "rev-1"}, {}, kT0);
  nlohmann::json patch = ReportStatusPatch({"gpu", "uid-1", "node-1"}, s);
  EXPECT_EQ(patch["metadata"], (nlohmann::json{{"name", "gpu.node-1"}}));
  EXPECT_FALSE(patch.contains("spec"));
  EXPECT_EQ(patch["status"]["counts"]["total"], 4);
  EXPECT_EQ(patch["status"]["registered"], false);
  EXPECT_EQ(patch["status"]["agentRevision"], "rev-1");

  nlohmann::json whole = ReportObject({"gpu", "uid-1", "node-1"});
  whole["status"] = patch["status"];
  auto decoded = api::DecodeDevicePoolNode(whole);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->status, s);
}

}  // namespace
}  // namespace hf::agent
