#include "api/device_pool_node.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/names.h"
#include "tests/api/yaml_json.h"

namespace hf::api {
namespace {

using nlohmann::json;

DevicePoolNode Report() {
  DevicePoolNode n;
  n.metadata.labels = {{"team", "ml"}, {std::string(kPoolLabel), "stale"}};
  n.metadata.owner_references = {{"hashfoundry.com/v1alpha1", "DevicePool", "custom-device", "uid-1", true, true}};
  n.spec = {"custom-device", "node-a"};
  // Out of order on purpose: the encoder sorts by id.
  n.status.devices = {{"hashfoundry-device-1", DeviceHealth::kUnhealthy, 1, "/dev/hashfoundry-device-1"},
                      {"hashfoundry-device-0", DeviceHealth::kHealthy, std::nullopt, "/dev/hashfoundry-device-0"}};
  n.status.counts = {2, 1, 1};
  n.status.registered = true;
  n.status.agent_version = "0.1.0";
  n.status.agent_revision = "5d41402abc4b2a76";
  n.status.conditions = {{"DiscoveryFailed", ConditionStatus::kFalse, 0, "2025-01-02T03:04:05Z", "Discovered", ""}};
  return n;
}

TEST(DevicePoolNodeTest, EncodeIsAnApplyObject) {
  json want = json::parse(R"({
    "apiVersion": "hashfoundry.com/v1alpha1",
    "kind": "DevicePoolNode",
    "metadata": {
      "name": "custom-device.node-a",
      "labels": {"team": "ml", "hashfoundry.com/pool": "custom-device", "hashfoundry.com/node": "node-a"},
      "ownerReferences": [{"apiVersion": "hashfoundry.com/v1alpha1", "kind": "DevicePool", "name": "custom-device",
                           "uid": "uid-1", "controller": true, "blockOwnerDeletion": true}]},
    "spec": {"pool": "custom-device", "node": "node-a"},
    "status": {
      "devices": [
        {"id": "hashfoundry-device-0", "health": "Healthy", "path": "/dev/hashfoundry-device-0"},
        {"id": "hashfoundry-device-1", "health": "Unhealthy", "numaNode": 1, "path": "/dev/hashfoundry-device-1"}],
      "counts": {"total": 2, "healthy": 1, "allocated": 1},
      "registered": true,
      "agentVersion": "0.1.0",
      "agentRevision": "5d41402abc4b2a76",
      "conditions": [{"type": "DiscoveryFailed", "status": "False", "observedGeneration": 0,
                      "lastTransitionTime": "2025-01-02T03:04:05Z", "reason": "Discovered", "message": ""}]}})");
  EXPECT_EQ(EncodeDevicePoolNode(Report()), want) << EncodeDevicePoolNode(Report()).dump(2);
}

TEST(DevicePoolNodeTest, EncodeWithoutOwnerOrDevices) {
  DevicePoolNode n;
  n.spec = {"p", "n"};
  json j = EncodeDevicePoolNode(n);
  EXPECT_FALSE(j["metadata"].contains("ownerReferences"));
  EXPECT_EQ(j["metadata"]["name"], "p.n");
  EXPECT_EQ(j["status"]["devices"], json::array());
  EXPECT_EQ(j["status"]["registered"], false);
  EXPECT_FALSE(j["status"].contains("agentVersion"));
  EXPECT_FALSE(j["status"].contains("agentRevision"));
}

TEST(DevicePoolNodeTest, RoundTrip) {
  kube::StatusOr<DevicePoolNode> decoded = DecodeDevicePoolNode(EncodeDevicePoolNode(Report()));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  DevicePoolNode want = Report();
  std::swap(want.status.devices[0], want.status.devices[1]);  // sorted by id
  EXPECT_EQ(decoded->spec, want.spec);
  EXPECT_EQ(decoded->status, want.status);
  EXPECT_EQ(decoded->metadata.name, "custom-device.node-a");
  EXPECT_EQ(decoded->metadata.labels.at(std::string(kPoolLabel)), "custom-device");
  EXPECT_EQ(decoded->metadata.labels.at(std::string(kNodeNameLabel)), "node-a");
  ASSERT_NE(decoded->metadata.ControllerRef(), nullptr);
  EXPECT_EQ(decoded->metadata.ControllerRef()->uid, "uid-1");
}

TEST(DevicePoolNodeTest, DecodesWithoutStatus) {
  kube::StatusOr<DevicePoolNode> decoded =
      DecodeDevicePoolNode(json::parse(R"({"metadata": {"name": "p.n"}, "spec": {"pool": "p", "node": "n"}})"));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->status, DevicePoolNodeStatus{});
}

TEST(DevicePoolNodeTest, RejectsBadInputWithPath) {
  struct Case {
    const char* obj;
    const char* want;
  };
  const Case cases[] = {
      {R"("x")", "DevicePoolNode: must be an object, not string"},
      {R"({})", "spec: is required"},
      {R"({"kind": "DevicePool", "spec": {"pool": "p", "node": "n"}})", "kind: must be DevicePoolNode"},
      {R"({"spec": {"node": "n"}})", "spec.pool: is required"},
      {R"({"spec": {"pool": "p", "node": ""}})", "spec.node: must not be empty"},
      {R"({"spec": {"pool": "p", "node": 3}})", "spec.node: must be a string, not integer"},
      {R"({"metadata": {"name": "q.n"}, "spec": {"pool": "p", "node": "n"}})",
       "metadata.name: must be <spec.pool>.<spec.node>"},
      {R"({"spec": {"pool": "p", "node": "n"}, "status": []})", "status: must be an object, not array"},
      {R"({"spec": {"pool": "p", "node": "n"}, "status": {"devices": [{"id": "a", "health": "Broken"}]}})",
       "status.devices[0].health: unsupported value \"Broken\": must be one of Healthy, Unhealthy"},
      {R"({"spec": {"pool": "p", "node": "n"}, "status": {"devices": [{"health": "Healthy"}]}})",
       "status.devices[0].id: is required"},
      {R"({"spec": {"pool": "p", "node": "n"},
           "status": {"devices": [{"id": "a", "health": "Healthy", "numaNode": -1}]}})",
       "status.devices[0].numaNode: must be between 0 and"},
      {R"({"spec": {"pool": "p", "node": "n"},
           "status": {"devices": [{"id": "a", "health": "Healthy"}, {"id": "a", "health": "Unhealthy"}]}})",
       "status.devices[1].id: duplicate device id \"a\""},
      {R"({"spec": {"pool": "p", "node": "n"}, "status": {"registered": "yes"}})",
       "status.registered: must be a boolean, not string"},
      {R"({"spec": {"pool": "p", "node": "n"}, "status": {"counts": {"total": 1.5}}})",
       "status.counts.total: must be an integer, not number"},
      {R"({"spec": {"pool": "p", "node": "n"}, "status": {"agentRevision": "v1/2"}})",
       "status.agentRevision: must be at most 63 characters of A-Z, a-z, 0-9, '.', '_', '-'"},
      {R"({"spec": {"pool": "p", "node": "n"}, "status": {"agentRevision": 7}})",
       "status.agentRevision: must be a string, not integer"},
  };
  for (const Case& c : cases) {
    kube::StatusOr<DevicePoolNode> decoded = DecodeDevicePoolNode(json::parse(c.obj));
    ASSERT_FALSE(decoded.ok()) << c.obj;
    EXPECT_EQ(decoded.status().reason(), kube::Reason::kInvalid);
    EXPECT_NE(decoded.status().message().find(c.want), std::string::npos)
        << "want \"" << c.want << "\" in \"" << decoded.status().message() << "\"";
  }
}

// The agent's --revision, the codec and the CRD apply one rule.
TEST(DevicePoolNodeTest, AgentRevisionRuleIsTheCrds) {
  EXPECT_TRUE(IsAgentRevision(""));
  EXPECT_TRUE(IsAgentRevision("5d41402abc4b2a76"));
  EXPECT_TRUE(IsAgentRevision("v2.0_RC-1"));
  EXPECT_TRUE(IsAgentRevision(std::string(63, 'a')));
  EXPECT_FALSE(IsAgentRevision(std::string(64, 'a')));
  for (const char* bad : {"a/b", "a:b", "a@b", "a b", "r\xc3\xa9v", "a\n"}) EXPECT_FALSE(IsAgentRevision(bad)) << bad;

  json crd = testing::LoadYamlAsJson("crds/devicepoolnodes.hashfoundry.com.yaml");
  const json& version = crd["spec"]["versions"][0];
  const json& field = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["agentRevision"];
  EXPECT_EQ(field["type"], "string");
  EXPECT_EQ(field["maxLength"], kMaxAgentRevision);
  EXPECT_EQ(field["pattern"], "^[A-Za-z0-9._-]*$");
  bool printed = false;
  for (const json& column : version["additionalPrinterColumns"]) {
    printed |= column["jsonPath"] == ".status.agentRevision" && column["name"] == "Revision";
  }
  EXPECT_TRUE(printed);
}

TEST(DevicePoolNodeTest, NeverThrows) {
  const json odd = json::parse(R"([null, 0, -1, 1.5, "", "x", [], {}, true, [null], {"a": 1}])");
  json obj = EncodeDevicePoolNode(Report());
  std::function<void(json*)> mutate = [&](json* at) {
    json saved = *at;
    for (const json& o : odd) {
      *at = o;
      EXPECT_NO_THROW(DecodeDevicePoolNode(obj).ok()) << obj.dump();
    }
    *at = saved;
    if (at->is_structured()) {
      for (json& child : *at) mutate(&child);
    }
  };
  mutate(&obj);
  EXPECT_TRUE(DecodeDevicePoolNode(obj).ok());  // restored
}

}  // namespace
}  // namespace hf::api
