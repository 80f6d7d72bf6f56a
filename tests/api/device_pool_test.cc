#include "api/device_pool.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "api/names.h"
#include "tests/api/yaml_json.h"

namespace hf::api {
namespace {

using nlohmann::json;
using testing::LoadYamlAsJson;

json Sample() { return LoadYamlAsJson("config/samples/devicepool.yaml"); }

json BareSpec() {
  return json::parse(R"({"spec": {"resourceName": "hashfoundry.com/custom-device",
                                  "discovery": {"simulated": {}}}})");
}

// What the API server's structural defaulting does: fill in absent
// properties from `default`, then descend into what is there.
void ApplyCrdDefaults(const json& schema, json* value) {
  if (value->is_object()) {
    if (auto props = schema.find("properties"); props != schema.end()) {
      for (const auto& [name, prop] : props->items()) {
        if (!value->contains(name) && prop.contains("default")) (*value)[name] = prop["default"];
        if (value->contains(name)) ApplyCrdDefaults(prop, &(*value)[name]);
      }
    }
    if (auto extra = schema.find("additionalProperties"); extra != schema.end() && extra->is_object()) {
      for (auto& [name, member] : value->items()) ApplyCrdDefaults(*extra, &member);
    }
  } else if (value->is_array() && schema.contains("items")) {
    for (auto& item : *value) ApplyCrdDefaults(schema["items"], &item);
  }
}

json DevicePoolSchema() {
  json crd = LoadYamlAsJson("crds/devicepools.hashfoundry.com.yaml");
  return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
}

// A spec problem's Status message, or "decoded" when there is none.
std::string DecodeError(const json& obj) {
  kube::StatusOr<DevicePool> pool = DecodeDevicePool(obj);
  if (pool.ok()) return "decoded";
  EXPECT_EQ(pool.status().reason(), kube::Reason::kInvalid) << pool.status().ToString();
  return pool.status().message();
}

TEST(DevicePoolTest, DecodesSample) {
  kube::StatusOr<DevicePool> pool = DecodeDevicePool(Sample());
  ASSERT_TRUE(pool.ok()) << pool.status().ToString();
  EXPECT_EQ(pool->metadata.name, "custom-device");
  EXPECT_EQ(pool->spec.resource_name, "hashfoundry.com/custom-device");
  ASSERT_TRUE(std::holds_alternative<SimulatedDiscovery>(pool->spec.discovery));
  EXPECT_EQ(std::get<SimulatedDiscovery>(pool->spec.discovery).count, 4);
  EXPECT_EQ(std::get<SimulatedDiscovery>(pool->spec.discovery).prefix, "hashfoundry-device");
  EXPECT_EQ(pool->spec.node_selector.ToSelectorString(), "hashfoundry.com/custom-device=enabled");
  EXPECT_TRUE(pool->spec.node_selector.Matches({{"hashfoundry.com/custom-device", "enabled"}}));
  EXPECT_FALSE(pool->spec.node_selector.Matches({{"hashfoundry.com/custom-device", "disabled"}}));
  ASSERT_EQ(pool->spec.agent.tolerations.size(), 1u);
  EXPECT_EQ(pool->spec.agent.tolerations[0].ToJson(),
            json::parse(R"({"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                            "effect": "NoSchedule"})"));
  EXPECT_EQ(pool->status, DevicePoolStatus{});
}

TEST(DevicePoolTest, BareSpecGetsCrdDefaults) {
  kube::StatusOr<DevicePool> pool = DecodeDevicePool(BareSpec());
  ASSERT_TRUE(pool.ok()) << pool.status().ToString();
  const DevicePoolSpec& s = pool->spec;
  EXPECT_EQ(s.allocation_api, AllocationApi::kDevicePlugin);
  EXPECT_TRUE(s.node_selector.Empty());
  EXPECT_EQ(std::get<SimulatedDiscovery>(s.discovery), (SimulatedDiscovery{4, "hashfoundry-device"}));
  EXPECT_EQ(s.sharing.replicas, 1);
  EXPECT_EQ(s.allocation.policy, AllocationPolicy::kPacked);
  EXPECT_EQ(s.health.interval, "30s");
  EXPECT_FALSE(s.cdi.enabled);
  EXPECT_EQ(s.agent, AgentSpec{});
  EXPECT_FALSE(s.agent.image.has_value());
  EXPECT_EQ(s.agent.log_level, LogLevel::kInfo);
  EXPECT_EQ(s.rollout.max_unavailable.ToJson(), json(1));
  EXPECT_TRUE(s.monitoring.service_monitor.enabled);
  EXPECT_EQ(s.monitoring.service_monitor.interval, "30s");
  EXPECT_TRUE(s.monitoring.prometheus_rule.enabled);
  EXPECT_EQ(s.monitoring.prometheus_rule.plugin_down_for, "5m");
  EXPECT_EQ(s.monitoring.prometheus_rule.unhealthy_for, "5m");
  EXPECT_DOUBLE_EQ(s.monitoring.prometheus_rule.allocation_high_ratio, 0.9);
  EXPECT_EQ(s.monitoring.prometheus_rule.allocation_high_for, "10m");
}

// The codec's defaults are the CRD's: decoding what the API server would
// store (the CRD's defaults applied) gives the same spec as decoding the
// manifest as written.
TEST(DevicePoolTest, CodecDefaultsAreTheCrdDefaults) {
  json schema = DevicePoolSchema();
  ASSERT_TRUE(schema.is_object());
  json paths = BareSpec();
  paths["spec"]["discovery"] = json::parse(R"({"paths": {"globs": ["/dev/fpga*"]}})");
  for (const json& manifest : {Sample(), BareSpec(), paths}) {
    json stored = manifest;
    ApplyCrdDefaults(schema, &stored);
    ASSERT_NE(stored, manifest) << "the CRD defaults nothing?";
    kube::StatusOr<DevicePool> as_written = DecodeDevicePool(manifest);
    kube::StatusOr<DevicePool> as_stored = DecodeDevicePool(stored);
    ASSERT_TRUE(as_written.ok()) << as_written.status().ToString();
    ASSERT_TRUE(as_stored.ok()) << as_stored.status().ToString() << "\n" << stored.dump(2);
    EXPECT_EQ(as_written->spec, as_stored->spec) << stored.dump(2);
  }
}

// A defaulted field whose default the codec does not know would slip
// through the test above if the C++ default happened to equal the zero
// value; so spell out that the CRD defaults every field the codec does.
TEST(DevicePoolTest, CrdDefaultsWhatTheCodecDefaults) {
  json stored = BareSpec();
  ApplyCrdDefaults(DevicePoolSchema(), &stored);
  json want = json::parse(R"({
    "resourceName": "hashfoundry.com/custom-device",
    "allocationAPI": "DevicePlugin",
    "discovery": {"simulated": {"count": 4, "prefix": "hashfoundry-device"}},
    "sharing": {"replicas": 1},
    "allocation": {"policy": "packed"},
    "health": {"interval": "30s"},
    "cdi": {"enabled": false},
    "agent": {"logLevel": "info"},
    "rollout": {"strategy": "Managed", "canary": {"nodes": 1, "bakeTime": "2m"}, "maxUnavailable": 1,
                "progressDeadline": "5m", "autoRollback": true, "paused": false},
    "monitoring": {
      "serviceMonitor": {"enabled": true, "interval": "30s"},
      "prometheusRule": {"enabled": true, "pluginDownFor": "5m", "unhealthyFor": "5m",
                         "allocationHighRatio": 0.9, "allocationHighFor": "10m"}}})");
  EXPECT_EQ(stored["spec"], want) << stored["spec"].dump(2);
}

TEST(DevicePoolTest, DecodesEveryField) {
  json obj = json::parse(R"({
    "apiVersion": "hashfoundry.com/v1alpha1", "kind": "DevicePool",
    "metadata": {"name": "fpga", "generation": 3, "finalizers": ["hashfoundry.com/node-labels"]},
    "spec": {
      "resourceName": "example.com/fpga",
      "allocationAPI": "DRA",
      "nodeSelector": {"matchLabels": {"a": "b"},
                       "matchExpressions": [{"key": "zone", "operator": "In", "values": ["x", "y"]}]},
      "discovery": {"pci": {"vendor": "10de", "devices": ["2330", "20B5"]}},
      "sharing": {"replicas": 8},
      "allocation": {"policy": "balanced"},
      "health": {"interval": "1m30s"},
      "cdi": {"enabled": true},
      "agent": {"image": "registry.local/agent:v1", "imagePullPolicy": "IfNotPresent",
                "imagePullSecrets": [{"name": "pull"}],
                "resources": {"limits": {"memory": "128Mi", "cpu": 1}, "requests": {"cpu": "10m"}},
                "tolerations": [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoExecute",
                                 "tolerationSeconds": 30}],
                "priorityClassName": "system-node-critical", "logLevel": "debug"},
      "rollout": {"strategy": "RollingUpdate", "canary": {"nodes": "10%", "bakeTime": "0s"},
                  "maxUnavailable": "25%", "progressDeadline": "90s", "autoRollback": false, "paused": true},
      "monitoring": {"serviceMonitor": {"enabled": false, "interval": "15s", "labels": {"release": "prom"}},
                     "prometheusRule": {"enabled": false, "labels": {"release": "prom"}, "pluginDownFor": "2m",
                                        "unhealthyFor": "1h", "allocationHighRatio": 0.8,
                                        "allocationHighFor": "10m"}}}})");
  kube::StatusOr<DevicePool> pool = DecodeDevicePool(obj);
  ASSERT_TRUE(pool.ok()) << pool.status().ToString();
  const DevicePoolSpec& s = pool->spec;
  EXPECT_EQ(pool->metadata.generation, 3);
  EXPECT_EQ(AllocationApiName(s.allocation_api), "DRA");
  EXPECT_TRUE(pool->metadata.HasFinalizer(std::string(kNodeLabelsFinalizer)));
  EXPECT_EQ(s.node_selector.ToSelectorString(), "a=b,zone in (x,y)");
  EXPECT_EQ(std::get<PciDiscovery>(s.discovery), (PciDiscovery{"10de", {"2330", "20B5"}}));
  EXPECT_EQ(s.sharing.replicas, 8);
  EXPECT_EQ(AllocationPolicyName(s.allocation.policy), "balanced");
  EXPECT_EQ(ParseDuration(s.health.interval), std::chrono::seconds(90));
  EXPECT_TRUE(s.cdi.enabled);
  EXPECT_EQ(s.agent.image, "registry.local/agent:v1");
  ASSERT_TRUE(s.agent.image_pull_policy.has_value());
  EXPECT_EQ(PullPolicyName(*s.agent.image_pull_policy), "IfNotPresent");
  EXPECT_EQ(s.agent.image_pull_secrets, std::vector<std::string>{"pull"});
  EXPECT_EQ(s.agent.resources.ToJson(),
            json::parse(R"({"limits": {"memory": "128Mi", "cpu": "1"}, "requests": {"cpu": "10m"}})"));
  ASSERT_EQ(s.agent.tolerations.size(), 1u);
  EXPECT_EQ(s.agent.tolerations[0].ToJson(),
            json::parse(R"({"key": "k", "operator": "Equal", "value": "v", "effect": "NoExecute",
                            "tolerationSeconds": 30})"));
  EXPECT_EQ(s.agent.priority_class_name, "system-node-critical");
  EXPECT_EQ(LogLevelName(s.agent.log_level), "debug");
  EXPECT_EQ(s.rollout.max_unavailable.ToJson(), json("25%"));
  EXPECT_EQ(RolloutStrategyName(s.rollout.strategy), "RollingUpdate");
  EXPECT_EQ(s.rollout.canary.nodes.ToJson(), json("10%"));
  EXPECT_EQ(s.rollout.canary.bake_time, "0s");
  EXPECT_EQ(s.rollout.progress_deadline, "90s");
  EXPECT_FALSE(s.rollout.auto_rollback);
  EXPECT_TRUE(s.rollout.paused);
  EXPECT_FALSE(s.monitoring.service_monitor.enabled);
  EXPECT_EQ(s.monitoring.service_monitor.interval, "15s");
  EXPECT_EQ(s.monitoring.service_monitor.labels.at("release"), "prom");
  EXPECT_FALSE(s.monitoring.prometheus_rule.enabled);
  EXPECT_EQ(s.monitoring.prometheus_rule.plugin_down_for, "2m");
  EXPECT_EQ(s.monitoring.prometheus_rule.unhealthy_for, "1h");
  EXPECT_DOUBLE_EQ(s.monitoring.prometheus_rule.allocation_high_ratio, 0.8);
}

TEST(DevicePoolTest, PathsDiscovery) {
  json obj = BareSpec();
  obj["spec"]["discovery"] = json::parse(R"({"paths": {"globs": ["/dev/infiniband/uverbs*", "/dev/fpga?"]}})");
  kube::StatusOr<DevicePool> pool = DecodeDevicePool(obj);
  ASSERT_TRUE(pool.ok()) << pool.status().ToString();
  EXPECT_EQ(std::get<PathsDiscovery>(pool->spec.discovery).globs,
            (std::vector<std::string>{"/dev/infiniband/uverbs*", "/dev/fpga?"}));
}

DevicePoolStatus FullStatus() {
  DevicePoolStatus s;
  s.observed_generation = 7;
  s.conditions = {{"Ready", ConditionStatus::kTrue, 7, "2025-01-02T03:04:05Z", "AllNodesReady", "3/3 nodes"},
                  {"Conflict", ConditionStatus::kFalse, 7, "2025-01-02T03:04:05Z", "NoConflict", ""}};
  s.nodes = {4, 3, 3, 2};
  s.devices = {12, 11, 5};
  s.daemon_set = {3, 3, 2, 2};
  s.problem_nodes = {{"node-4", "Conflict", "held by pool older-pool"}, {"node-3", "AgentNotReady", ""}};
  s.rollout.phase = RolloutPhase::kCanary;
  s.rollout.current_revision = "aaaa";
  s.rollout.update_revision = "bbbb";
  s.rollout.updated_nodes = 1;
  s.rollout.total_nodes = 3;
  s.rollout.nodes = {{"node-1", true, "2025-01-02T03:04:05Z", 4, "2025-01-02T03:04:09Z"}};
  s.rollout.failed = {{"node-2", "Registered", "late"}};
  s.rollout.message = "canary: 1/3";
  s.rollout.start_time = "2025-01-02T03:04:00Z";
  return s;
}

TEST(DevicePoolTest, StatusRoundTrip) {
  json obj = BareSpec();
  obj["status"] = EncodeDevicePoolStatus(FullStatus());
  kube::StatusOr<DevicePool> pool = DecodeDevicePool(obj);
  ASSERT_TRUE(pool.ok()) << pool.status().ToString();
  EXPECT_EQ(pool->status, FullStatus());
}

TEST(DevicePoolTest, EncodeStatusShape) {
  json j = EncodeDevicePoolStatus(FullStatus());
  EXPECT_EQ(j["nodes"], json::parse(R"({"selected": 4, "labelled": 3, "registered": 3, "ready": 2})"));
  EXPECT_EQ(j["devices"], json::parse(R"({"total": 12, "healthy": 11, "allocated": 5})"));
  EXPECT_EQ(j["daemonSet"], json::parse(R"({"desired": 3, "updated": 3, "ready": 2, "available": 2})"));
  EXPECT_EQ(j["problemNodes"][1], json::parse(R"({"node": "node-3", "reason": "AgentNotReady"})"));
  EXPECT_EQ(j["conditions"][0]["status"], "True");

  EXPECT_EQ(j["rollout"]["phase"], "Canary");
  EXPECT_EQ(j["rollout"]["nodes"][0], json::parse(R"({"node": "node-1", "canary": true, "healthyBefore": 4,
      "startedAt": "2025-01-02T03:04:05Z", "passedAt": "2025-01-02T03:04:09Z"})"));

  json empty = EncodeDevicePoolStatus({});
  EXPECT_FALSE(empty.contains("rollout"));
  EXPECT_FALSE(empty.contains("conditions"));
  EXPECT_FALSE(empty.contains("problemNodes"));
  EXPECT_EQ(empty["observedGeneration"], 0);
}

TEST(DevicePoolTest, EncodeStatusKeepsTenProblemNodes) {
  DevicePoolStatus s;
  for (int i = 0; i < 15; ++i) s.problem_nodes.push_back({"node-" + std::to_string(i), "NotRegistered", ""});
  json j = EncodeDevicePoolStatus(s);
  ASSERT_EQ(j["problemNodes"].size(), kMaxProblemNodes);
  EXPECT_EQ(j["problemNodes"][9]["node"], "node-9");
}

TEST(DevicePoolTest, EncodeStatusBoundsTheRolloutLists) {
  DevicePoolStatus s;
  s.rollout.phase = RolloutPhase::kProgressing;
  for (int i = 0; i < 150; ++i) s.rollout.nodes.push_back({"node-" + std::to_string(i), false, "", 1, ""});
  for (int i = 0; i < 15; ++i) s.rollout.failed.push_back({"node-" + std::to_string(i), "Registered", ""});
  json j = EncodeDevicePoolStatus(s);
  EXPECT_EQ(j["rollout"]["nodes"].size(), kMaxRolloutNodes);
  EXPECT_EQ(j["rollout"]["failed"].size(), kMaxRolloutFailures);
}

struct BadCase {
  const char* name;
  json obj;
  const char* want;  // substring of the Status message
};

json WithSpec(const char* spec_patch) {
  json obj = BareSpec();
  obj["spec"].merge_patch(json::parse(spec_patch));
  return obj;
}

std::vector<BadCase> BadCases() {
  json long_name = BareSpec();
  long_name["metadata"]["name"] = std::string(64, 'p');
  json no_discovery = BareSpec();
  no_discovery["spec"].erase("discovery");
  json long_dra_name = WithSpec(R"({"allocationAPI": "DRA"})");
  long_dra_name["metadata"]["name"] = std::string(37, 'p');
  return {
      {"not an object", json::array(), "DevicePool: must be an object, not array"},
      {"no spec", json::object(), "spec: is required"},
      {"spec a string", json::parse(R"({"spec": "x"})"), "spec: must be an object, not string"},
      {"kind", json::parse(R"({"kind": "Pod", "spec": {}})"), "kind: must be DevicePool"},
      {"apiVersion", json::parse(R"({"apiVersion": "v1", "spec": {}})"),
       "apiVersion: must be hashfoundry.com/v1alpha1"},
      {"metadata not an object", json::parse(R"({"metadata": [], "spec": {}})"), "metadata: must be an object"},
      {"name a number", json::parse(R"({"metadata": {"name": 5}, "spec": {}})"), "metadata.name: must be a string"},
      {"owner controller not bool",
       json::parse(R"({"metadata": {"ownerReferences": [{"controller": "yes"}]}, "spec": {}})"),
       "metadata.ownerReferences[0].controller: must be a boolean, not string"},
      {"labels not strings", json::parse(R"({"metadata": {"labels": {"a": 1}}, "spec": {}})"),
       "metadata.labels[a]: must be a string, not integer"},
      {"pool name too long", long_name, "metadata.name: must be at most 63 characters"},
      {"allocationAPI unknown", WithSpec(R"({"allocationAPI": "Dra"})"),
       "spec.allocationAPI: unsupported value \"Dra\": must be one of DevicePlugin, DRA"},
      {"allocationAPI not a string", WithSpec(R"({"allocationAPI": true})"),
       "spec.allocationAPI: must be a string, not boolean"},
      {"DRA pool name over 36", long_dra_name,
       "metadata.name: must be at most 36 characters for allocationAPI DRA"},
      {"no resourceName", json::parse(R"({"spec": {"discovery": {"simulated": {}}}})"),
       "spec.resourceName: is required"},
      {"resourceName a number", WithSpec(R"({"resourceName": 7})"), "spec.resourceName: must be a string, not integer"},
      {"resourceName without domain", WithSpec(R"({"resourceName": "custom-device"})"),
       "spec.resourceName: resourceName must be <domain>/<name>"},
      {"resourceName kubernetes.io", WithSpec(R"({"resourceName": "kubernetes.io/gpu"})"), "reserved kubernetes.io/"},
      {"resourceName sub.kubernetes.io", WithSpec(R"({"resourceName": "nvidia.kubernetes.io/gpu"})"),
       "reserved kubernetes.io/"},
      {"resourceName requests.", WithSpec(R"({"resourceName": "requests.example.com/gpu"})"),
       "must not start with 'requests.'"},
      {"resourceName long name part",
       WithSpec((R"({"resourceName": "example.com/)" + std::string(64, 'n') + R"("})").c_str()),
       "name part of resourceName (after '/') must be at most 63 characters"},
      {"resourceName upper-case domain", WithSpec(R"({"resourceName": "Example.com/gpu"})"),
       "domain prefix of resourceName must be a lower-case DNS subdomain"},
      {"resourceName bad name part", WithSpec(R"({"resourceName": "example.com/-gpu"})"),
       "name part of resourceName must be letters"},
      {"no discovery", no_discovery, "spec.discovery: is required"},
      {"empty discovery", WithSpec(R"({"discovery": {"simulated": null}})"),
       "spec.discovery: exactly one of simulated, paths or pci must be set"},
      {"two discovery methods", WithSpec(R"({"discovery": {"pci": {"vendor": "10de"}}})"),
       "spec.discovery: exactly one of simulated, paths or pci must be set (found simulated, pci)"},
      {"simulated not an object", WithSpec(R"({"discovery": {"simulated": 4}})"),
       "spec.discovery.simulated: must be an object, not integer"},
      {"count 0", WithSpec(R"({"discovery": {"simulated": {"count": 0}}})"),
       "spec.discovery.simulated.count: must be between 1 and 1024"},
      {"count 2000", WithSpec(R"({"discovery": {"simulated": {"count": 2000}}})"),
       "spec.discovery.simulated.count: must be between 1 and 1024"},
      {"count a string", WithSpec(R"({"discovery": {"simulated": {"count": "4"}}})"),
       "spec.discovery.simulated.count: must be an integer, not string"},
      {"count a fraction", WithSpec(R"({"discovery": {"simulated": {"count": 4.5}}})"),
       "spec.discovery.simulated.count: must be an integer, not number"},
      {"count huge", WithSpec(R"({"discovery": {"simulated": {"count": 18446744073709551615}}})"),
       "spec.discovery.simulated.count: must be between 1 and 1024"},
      {"bad prefix", WithSpec(R"({"discovery": {"simulated": {"prefix": "Dev_"}}})"),
       "spec.discovery.simulated.prefix: must be a DNS label"},
      {"relative glob", WithSpec(R"({"discovery": {"simulated": null, "paths": {"globs": ["/dev/a", "dev/x*"]}}})"),
       "spec.discovery.paths.globs[1]: \"dev/x*\" is not under /dev or /sys"},
      {"glob with ..", WithSpec(R"({"discovery": {"simulated": null, "paths": {"globs": ["/dev/../etc/shadow"]}}})"),
       "spec.discovery.paths.globs[0]: \"/dev/../etc/shadow\" must be a normalised path"},
      {"glob outside /dev", WithSpec(R"({"discovery": {"simulated": null, "paths": {"globs": ["/etc/shadow"]}}})"),
       "spec.discovery.paths.globs[0]: \"/etc/shadow\" is not under /dev or /sys"},
      {"glob matching ..", WithSpec(R"({"discovery": {"simulated": null, "paths": {"globs": ["/dev/.[.]/etc/x"]}}})"),
       "spec.discovery.paths.globs[0]: \"/dev/.[.]/etc/x\" must be a normalised path"},
      {"glob brace with ..",
       WithSpec(R"({"discovery": {"simulated": null, "paths": {"globs": ["/dev/{a,..}/etc/x"]}}})"),
       "spec.discovery.paths.globs[0]: \"/dev/{a,..}/etc/x\" must have {a,b} groups"},
      {"no globs", WithSpec(R"({"discovery": {"simulated": null, "paths": {"globs": []}}})"),
       "spec.discovery.paths.globs: must have at least one glob"},
      {"globs missing", WithSpec(R"({"discovery": {"simulated": null, "paths": {}}})"),
       "spec.discovery.paths.globs: is required"},
      {"bad pci vendor", WithSpec(R"({"discovery": {"simulated": null, "pci": {"vendor": "0x10de"}}})"),
       "spec.discovery.pci.vendor: must be 4 hexadecimal digits"},
      {"bad pci device",
       WithSpec(R"({"discovery": {"simulated": null, "pci": {"vendor": "10de", "devices": ["23g0"]}}})"),
       "spec.discovery.pci.devices[0]: must be 4 hexadecimal digits"},
      {"replicas 0", WithSpec(R"({"sharing": {"replicas": 0}})"), "spec.sharing.replicas: must be between 1 and 64"},
      {"unknown allocation policy", WithSpec(R"({"allocation": {"policy": "spread"}})"),
       "spec.allocation.policy: unsupported value \"spread\": must be one of packed, balanced, none"},
      {"bad health interval", WithSpec(R"({"health": {"interval": "30 seconds"}})"),
       "spec.health.interval: \"30 seconds\" is not a duration"},
      {"health interval 0s", WithSpec(R"({"health": {"interval": "0s"}})"), "spec.health.interval: must be above 0"},
      {"health interval beyond Go's durations", WithSpec(R"({"health": {"interval": "2562048h"}})"),
       "spec.health.interval: \"2562048h\" is not a duration"},
      {"scrape interval 0ms", WithSpec(R"({"monitoring": {"serviceMonitor": {"interval": "0ms"}}})"),
       "spec.monitoring.serviceMonitor.interval: must be above 0"},
      {"image with a space", WithSpec(R"({"agent": {"image": "registry.local/agent :v1"}})"),
       "spec.agent.image: \"registry.local/agent :v1\" is not an image reference"},
      {"image upper-case", WithSpec(R"({"agent": {"image": "registry.local/Agent:v1"}})"),
       "spec.agent.image: \"registry.local/Agent:v1\" is not an image reference"},
      {"image empty", WithSpec(R"({"agent": {"image": ""}})"), "spec.agent.image: \"\" is not an image reference"},
      {"bad priorityClassName", WithSpec(R"({"agent": {"priorityClassName": "High_Priority"}})"),
       "spec.agent.priorityClassName: must be a PriorityClass name"},
      {"toleration bad key", WithSpec(R"({"agent": {"tolerations": [{"key": "a b", "operator": "Exists"}]}})"),
       "spec.agent.tolerations[0].key: \"a b\" is not a label key"},
      {"toleration bad value", WithSpec(R"({"agent": {"tolerations": [{"key": "k", "value": "-v"}]}})"),
       "spec.agent.tolerations[0].value: \"-v\" is not a label value"},
      {"monitoring label bad key", WithSpec(R"({"monitoring": {"prometheusRule": {"labels": {"/x": "y"}}}})"),
       "spec.monitoring.prometheusRule.labels[/x]: \"/x\" is not a label key"},
      {"pool name with a dot", json::parse(R"({"metadata": {"name": "a.b"}, "spec": {}})"),
       "metadata.name: must be a DNS label"},
      {"cdi not bool", WithSpec(R"({"cdi": {"enabled": "true"}})"), "spec.cdi.enabled: must be a boolean, not string"},
      {"bad logLevel", WithSpec(R"({"agent": {"logLevel": "trace"}})"),
       "spec.agent.logLevel: unsupported value \"trace\""},
      {"bad pull policy", WithSpec(R"({"agent": {"imagePullPolicy": "Sometimes"}})"), "spec.agent.imagePullPolicy"},
      {"pull secret without name", WithSpec(R"({"agent": {"imagePullSecrets": [{}]}})"),
       "spec.agent.imagePullSecrets[0].name: is required"},
      {"bad quantity", WithSpec(R"({"agent": {"resources": {"limits": {"cpu": 0.5}}}})"),
       "spec.agent.resources.limits[cpu]: must be a string, not number"},
      {"toleration Exists with value",
       WithSpec(R"({"agent": {"tolerations": [{"operator": "Exists", "value": "x"}]}})"),
       "spec.agent.tolerations[0]: a toleration's value must be empty when its operator is Exists"},
      {"toleration without key", WithSpec(R"({"agent": {"tolerations": [{"operator": "Equal"}]}})"),
       "spec.agent.tolerations[0]: a toleration without a key must have operator Exists"},
      {"tolerationSeconds without NoExecute",
       WithSpec(R"({"agent": {"tolerations": [{"key": "k", "tolerationSeconds": 5}]}})"),
       "spec.agent.tolerations[0]: a toleration's tolerationSeconds needs effect NoExecute"},
      {"maxUnavailable 150%", WithSpec(R"({"rollout": {"maxUnavailable": "150%"}})"),
       "spec.rollout.maxUnavailable: must be a positive integer or a percentage from 1% to 100%"},
      {"maxUnavailable -1", WithSpec(R"({"rollout": {"maxUnavailable": -1}})"),
       "spec.rollout.maxUnavailable: must be a positive integer or a percentage"},
      {"maxUnavailable 0", WithSpec(R"({"rollout": {"maxUnavailable": 0}})"),
       "spec.rollout.maxUnavailable: must be a positive integer or a percentage"},
      {"maxUnavailable 0%", WithSpec(R"({"rollout": {"maxUnavailable": "0%"}})"),
       "spec.rollout.maxUnavailable: must be a positive integer or a percentage"},
      {"maxUnavailable 1.5", WithSpec(R"({"rollout": {"maxUnavailable": 1.5}})"),
       "spec.rollout.maxUnavailable: must be an integer, not number"},
      {"maxUnavailable \"-1\"", WithSpec(R"({"rollout": {"maxUnavailable": "-1"}})"),
       "spec.rollout.maxUnavailable: must be"},
      {"maxUnavailable abc", WithSpec(R"({"rollout": {"maxUnavailable": "abc"}})"),
       "spec.rollout.maxUnavailable: must be"},
      {"maxUnavailable 05%", WithSpec(R"({"rollout": {"maxUnavailable": "05%"}})"),
       "spec.rollout.maxUnavailable: must be"},
      {"maxUnavailable bool", WithSpec(R"({"rollout": {"maxUnavailable": true}})"),
       "spec.rollout.maxUnavailable: must be"},
      {"ratio 1.5", WithSpec(R"({"monitoring": {"prometheusRule": {"allocationHighRatio": 1.5}}})"),
       "spec.monitoring.prometheusRule.allocationHighRatio: must be between 0 and 1"},
      {"bad unhealthyFor", WithSpec(R"({"monitoring": {"prometheusRule": {"unhealthyFor": "5"}}})"),
       "spec.monitoring.prometheusRule.unhealthyFor: \"5\" is not a duration"},
      {"serviceMonitor labels", WithSpec(R"({"monitoring": {"serviceMonitor": {"labels": ["a"]}}})"),
       "spec.monitoring.serviceMonitor.labels: must be an object, not array"},
      {"bad operator",
       WithSpec(R"({"nodeSelector": {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}})"),
       "spec.nodeSelector.matchExpressions[0].operator: unsupported value \"Gt\""},
      {"In without values", WithSpec(R"({"nodeSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}})"),
       "spec.nodeSelector.matchExpressions[0].values: must be non-empty when operator is In or NotIn"},
      {"Exists with values",
       WithSpec(R"({"nodeSelector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}})"),
       "spec.nodeSelector.matchExpressions[0].values: must be empty when operator is Exists or DoesNotExist"},
      {"expression without key", WithSpec(R"({"nodeSelector": {"matchExpressions": [{"operator": "Exists"}]}})"),
       "spec.nodeSelector.matchExpressions[0].key: is required"},
      {"matchLabels value not a string", WithSpec(R"({"nodeSelector": {"matchLabels": {"a": true}}})"),
       "spec.nodeSelector.matchLabels[a]: must be a string, not boolean"},
      {"matchLabels bad key", WithSpec(R"({"nodeSelector": {"matchLabels": {"zone!": "a"}}})"),
       "spec.nodeSelector.matchLabels[zone!]: \"zone!\" is not a label key"},
      {"matchLabels upper-case prefix", WithSpec(R"({"nodeSelector": {"matchLabels": {"Example.com/zone": "a"}}})"),
       "spec.nodeSelector.matchLabels[Example.com/zone]: \"Example.com/zone\" is not a label key"},
      {"matchLabels bad value", WithSpec(R"({"nodeSelector": {"matchLabels": {"zone": "a b"}}})"),
       "spec.nodeSelector.matchLabels[zone]: \"a b\" is not a label value"},
      {"expression bad key",
       WithSpec(R"({"nodeSelector": {"matchExpressions": [{"key": "a/b/c", "operator": "Exists"}]}})"),
       "spec.nodeSelector.matchExpressions[0].key: \"a/b/c\" is not a label key"},
      {"expression bad value",
       WithSpec(R"({"nodeSelector": {"matchExpressions": [{"key": "a", "operator": "In", "values": ["ok", "-x"]}]}})"),
       "spec.nodeSelector.matchExpressions[0].values[1]: \"-x\" is not a label value"},
      {"status count negative", json::parse(R"({"spec": {"resourceName": "a.com/b", "discovery": {"simulated": {}}},
                                                 "status": {"nodes": {"ready": -1}}})"),
       "status.nodes.ready: must be between 0 and 2147483647"},
      {"condition status", json::parse(R"({"spec": {"resourceName": "a.com/b", "discovery": {"simulated": {}}},
                                           "status": {"conditions": [{"type": "Ready", "status": "Maybe"}]}})"),
       "status.conditions[0].status: unsupported value \"Maybe\""},
      {"duplicate condition", json::parse(R"({"spec": {"resourceName": "a.com/b", "discovery": {"simulated": {}}},
           "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Ready", "status": "False"}]}})"),
       "status.conditions[1].type: duplicate condition type \"Ready\""},
      {"problem node without node", json::parse(R"({"spec": {"resourceName": "a.com/b", "discovery": {"simulated": {}}},
                                                    "status": {"problemNodes": [{"reason": "Conflict"}]}})"),
       "status.problemNodes[0].node: is required"},
  };
}

TEST(DevicePoolTest, RejectsBadInputWithPath) {
  for (const BadCase& c : BadCases()) {
    EXPECT_NE(DecodeError(c.obj).find(c.want), std::string::npos)
        << c.name << ": want \"" << c.want << "\" in \"" << DecodeError(c.obj) << "\"";
  }
}

TEST(DevicePoolTest, ReportsEveryProblem) {
  std::string msg = DecodeError(WithSpec(R"({"sharing": {"replicas": 0}, "cdi": {"enabled": 1}})"));
  EXPECT_NE(msg.find("spec.sharing.replicas"), std::string::npos) << msg;
  EXPECT_NE(msg.find("spec.cdi.enabled"), std::string::npos) << msg;
  json named = WithSpec(R"({"sharing": {"replicas": 0}})");
  named["metadata"]["name"] = "gpus";
  EXPECT_EQ(DecodeError(named).rfind("DevicePool gpus: ", 0), 0u) << DecodeError(named);
}

// Replaces `*at` and then, recursively, each value inside it by each of
// `odd` in turn, calling `visit` each time, and restores it.
void ForEachMutation(json* at, const json& odd, const std::function<void()>& visit) {
  json saved = *at;
  for (const json& o : odd) {
    *at = o;
    visit();
  }
  *at = saved;
  if (at->is_structured()) {
    for (json& child : *at) ForEachMutation(&child, odd, visit);
  }
}

// Decoding may fail, but must not throw, whatever JSON stands anywhere.
TEST(DevicePoolTest, NeverThrows) {
  const json odd = json::parse(R"([null, 0, -1, 1.5, 1e300, 18446744073709551615, "", "x", "50%",
                                   [], {}, true, [1, "a", null], {"a": {"b": []}}])");
  json full = Sample();
  full["metadata"]["ownerReferences"] = json::parse(R"([{"apiVersion": "v1", "kind": "X", "name": "n", "uid": "u",
                                                         "controller": true, "blockOwnerDeletion": true}])");
  full["spec"]["rollout"] = json::parse(R"({"maxUnavailable": "10%"})");
  full["spec"]["nodeSelector"]["matchExpressions"] =
      json::parse(R"([{"key": "a", "operator": "In", "values": ["b"]}])");
  full["status"] = EncodeDevicePoolStatus(FullStatus());
  for (const char* discovery : {R"({"simulated": {"count": 2, "prefix": "d"}})", R"({"paths": {"globs": ["/dev/x"]}})",
                                R"({"pci": {"vendor": "10de", "devices": ["2330"]}})"}) {
    json obj = full;
    obj["spec"]["discovery"] = json::parse(discovery);
    ASSERT_TRUE(DecodeDevicePool(obj).ok()) << DecodeDevicePool(obj).status().ToString();
    int decoded = 0;
    int rejected = 0;
    ForEachMutation(&obj, odd, [&] {
      EXPECT_NO_THROW((DecodeDevicePool(obj).ok() ? decoded : rejected)++) << obj.dump();
    });
    EXPECT_GT(decoded, 0) << discovery;
    EXPECT_GT(rejected, 0) << discovery;
  }
}

TEST(DevicePoolTest, ValidateResourceName) {
  for (const char* ok : {"hashfoundry.com/custom-device", "example.com/a.b_c-D9", "a/b", "x-1.y/Z"}) {
    EXPECT_TRUE(ValidateResourceName(ok).ok()) << ok << ": " << ValidateResourceName(ok).message();
  }
  for (const char* bad : {"", "custom-device", "/gpu", "example.com/", "example.com/a/b", "example..com/gpu",
                          "-example.com/gpu", "example.com/gpu-", "kubernetes.io/gpu", "foo.kubernetes.io/gpu",
                          "requests.example.com/gpu", "EXAMPLE.com/gpu", "example.com/g pu"}) {
    kube::Status st = ValidateResourceName(bad);
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_EQ(st.reason(), kube::Reason::kInvalid) << bad;
  }
  EXPECT_TRUE(ValidateResourceName("example.com/" + std::string(63, 'n')).ok());
  EXPECT_FALSE(ValidateResourceName("example.com/" + std::string(64, 'n')).ok());
  EXPECT_TRUE(ValidateResourceName(std::string(244, 'd') + "/n").ok());
  EXPECT_FALSE(ValidateResourceName(std::string(245, 'd') + "/n").ok());
}

TEST(DevicePoolTest, ValidateImageReference) {
  const std::string digest = "sha256:" + std::string(64, 'a');
  for (const std::string& ok : std::vector<std::string>{
           "agent", "hashfoundry/device-operator", "registry.local/agent:v1", "localhost:5000/a/b_c__d--e.f:1.0-rc_1",
           "Registry.Example.COM/agent", "[::1]:5000/agent:latest", "agent:5000", "a@sha256:" + std::string(32, 'f'),
           "ghcr.io/hashfoundry/device-operator:v1@" + digest}) {
    EXPECT_TRUE(ValidateImageReference(ok).ok()) << ok << ": " << ValidateImageReference(ok).message();
  }
  for (const std::string& bad : std::vector<std::string>{
           "", " agent", "agent ", "registry.local/agent :v1", "Agent", "registry.local/Agent", "a//b", "a/", "/a",
           "-a", "a-", "a..b", "a___b", "a:", "a:-x", "a@sha256:abc", "a@:" + std::string(32, 'f'), "reg:port/a",
           "a:b:c", "a\tb", "a/b:" + std::string(129, 't')}) {
    kube::Status st = ValidateImageReference(bad);
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_EQ(st.reason(), kube::Reason::kInvalid) << bad;
  }
  EXPECT_TRUE(ValidateImageReference(std::string(255, 'a') + ":v1").ok());
  EXPECT_FALSE(ValidateImageReference(std::string(256, 'a') + ":v1").ok());
}

TEST(DevicePoolTest, ValidateDeviceGlob) {
  for (const char* ok : {"/dev/fpga*", "/dev/infiniband/uverbs*", "/dev/dfl-port.*", "/dev/accel/accel[0-9]*",
                         "/dev/{fpga,accel}?", "/sys/class/accel/*", "/dev/x{a,b}y{c,d}", "/dev/a,b"}) {
    EXPECT_TRUE(ValidateDeviceGlob(ok).ok()) << ok << ": " << ValidateDeviceGlob(ok).message();
  }
  for (const char* bad : {"", "/", "/dev", "/dev/", "/sys", "dev/x", "/etc/shadow", "/devx/y", "/proc/1/root",
                          "/dev/../etc/shadow", "/dev/./x", "/dev//x", "/dev/x/", "/dev/.x", "/dev/.[.]/etc",
                          "/dev/.*", "/dev/{a,..}/x", "/dev/{.,.}./x", "/dev/{a,}", "/dev/{a,b/c}", "/dev/{a{b}}",
                          "/dev/a}", "/dev/{a", "/dev/\\.\\./x", "/dev/a\nb", "/dev/a\x7f"}) {
    kube::Status st = ValidateDeviceGlob(bad);
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_EQ(st.reason(), kube::Reason::kInvalid) << bad;
  }
}

TEST(DevicePoolTest, ParseDuration) {
  using std::chrono::milliseconds;
  EXPECT_EQ(ParseDuration("30s"), milliseconds(30000));
  EXPECT_EQ(ParseDuration("5m"), milliseconds(300000));
  EXPECT_EQ(ParseDuration("1h30m"), milliseconds(5400000));
  EXPECT_EQ(ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(ParseDuration("0s"), milliseconds(0));
  // Go's time.Duration, what the API server's CEL duration() parses into.
  EXPECT_EQ(ParseDuration("2562047h"), milliseconds(int64_t{2562047} * 3600 * 1000));
  EXPECT_FALSE(ParseDuration("2562048h").has_value());
  EXPECT_FALSE(ParseDuration("2562047h48m").has_value());
  for (const char* bad : {"", "30", "s", "1.5h", "-1s", "30 s", "1d", "5M", "99999999999999999999h", "1h "}) {
    EXPECT_FALSE(ParseDuration(bad).has_value()) << bad;
  }
}

TEST(DevicePoolTest, Names) {
  EXPECT_EQ(DevicePools().ApiVersion(), "hashfoundry.com/v1alpha1");
  EXPECT_EQ(DevicePools().String(), "devicepools.hashfoundry.com");
  EXPECT_FALSE(DevicePools().namespaced);
  EXPECT_EQ(DevicePoolNodes().String(), "devicepoolnodes.hashfoundry.com");
  EXPECT_FALSE(DevicePoolNodes().namespaced);
  EXPECT_EQ(NodeSelectionLabel("custom-device"), "devicepool.hashfoundry.com/custom-device");
  EXPECT_EQ(kNodeSelectionLabelValue, "enabled");
  EXPECT_EQ(kNodeLabelsFinalizer, "hashfoundry.com/node-labels");
  EXPECT_EQ(DraDriverName("custom-device"), "custom-device.devicepool.hashfoundry.com");
  // The longest DRA pool name gives the longest driver name there may be.
  EXPECT_EQ(DraDriverName(std::string(kMaxDraPoolNameLength, 'p')).size(), 63u);
  EXPECT_EQ(PoolOfDraDriver("custom-device.devicepool.hashfoundry.com"), "custom-device");
  EXPECT_EQ(PoolOfDraDriver(".devicepool.hashfoundry.com"), "");
  EXPECT_EQ(PoolOfDraDriver("gpu.example.com"), "");
}

TEST(DevicePoolTest, LongNamesAreFineForDevicePluginPools) {
  json obj = BareSpec();
  obj["metadata"]["name"] = std::string(63, 'p');
  EXPECT_TRUE(DecodeDevicePool(obj).ok());
  obj["spec"]["allocationAPI"] = "DevicePlugin";
  EXPECT_TRUE(DecodeDevicePool(obj).ok());
  obj["metadata"]["name"] = std::string(36, 'p');
  obj["spec"]["allocationAPI"] = "DRA";
  kube::StatusOr<DevicePool> dra = DecodeDevicePool(obj);
  ASSERT_TRUE(dra.ok()) << dra.status().ToString();
  EXPECT_EQ(dra->spec.allocation_api, AllocationApi::kDra);
}

}  // namespace
}  // namespace hf::api
