// crds/ against a real kube-apiserver (tests/cluster): the specs admission
// rejects and with which message, the defaults it stores (and that the C++
// codec applies the same ones), the status subresource as the codecs write
// it, printer columns, short names and the category.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "api/condition.h"
#include "api/device_pool.h"
#include "api/device_pool_node.h"
#include "api/names.h"
#include "kube/rest/client.h"
#include "tests/crds/serve_crds.h"
#include "tests/testing/cluster.h"

namespace hf::api {
namespace {

using hf::testing::CommandResult;
using hf::testing::Eventually;
using hf::testing::LocalCluster;
using hf::testing::UniqueName;
using testing::ValidPool;
using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kFieldManager[] = "crd-admission-test";

// Whitespace-separated words of line `n` of `text`.
std::vector<std::string> Words(const std::string& text, size_t n) {
  std::istringstream lines(text);
  std::string line;
  for (size_t i = 0; i <= n; ++i) {
    if (!std::getline(lines, line)) return {};
  }
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

class CrdAdmissionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { testing::ServeCrds(LocalCluster::Shared()); }

  void TearDown() override {
    for (const std::string& name : pools_) (void)client_->Delete(DevicePools(), "", name);
    for (const std::string& name : pool_nodes_) (void)client_->Delete(DevicePoolNodes(), "", name);
  }

  // Creates a pool that TearDown deletes.
  kube::StatusOr<json> CreatePool(const json& pool) {
    kube::StatusOr<json> created = client_->Create(DevicePools(), "", pool);
    if (created.ok()) pools_.push_back(pool["metadata"]["name"]);
    return created;
  }

  // kubectl, retried while its discovery cache may not know the CRDs yet.
  CommandResult KubectlOk(const std::vector<std::string>& args) {
    CommandResult r;
    Eventually([&] {
      r = cluster_.Kubectl(args);
      return r.exit_code == 0;
    });
    return r;
  }

  LocalCluster& cluster_ = LocalCluster::Shared();
  std::unique_ptr<kube::Client> client_ = cluster_.AdminClient();
  std::vector<std::string> pools_;
  std::vector<std::string> pool_nodes_;
};

struct BadSpec {
  std::string name;   // test name
  std::string patch;  // JSON merge patch applied to ValidPool
  std::string want;   // substring of the API server's message
  std::string field;  // the field path, in both the API server's and the codec's message
};

void PrintTo(const BadSpec& b, std::ostream* os) { *os << b.name; }

json Globs(const std::vector<std::string>& globs) {
  return {{"spec", {{"discovery", {{"simulated", nullptr}, {"paths", {{"globs", globs}}}}}}}};
}

json Expression(const json& requirement) {
  return {{"spec", {{"nodeSelector", {{"matchExpressions", json::array({requirement})}}}}}};
}

std::vector<BadSpec> BadSpecs() {
  const std::string long_name_part(64, 'n');
  const std::string long_pool_name(64, 'p');
  const std::string long_dra_pool_name(37, 'p');
  const std::string maxunavail = "must be a positive integer or a percentage from 1% to 100%";
  const std::string label_key = "each key must be a label key";
  const std::string normalised = "each glob must be a normalised path";
  const std::string under = "each glob must be an absolute path under /dev or /sys";
  const std::string image = "image must be an image reference";
  const std::string globs = "spec.discovery.paths.globs[0]";
  return {
      {"ResourceNameWithoutDomain", R"({"spec": {"resourceName": "custom-device"}})",
       "resourceName must be <domain>/<name>", "spec.resourceName"},
      {"ResourceNameKubernetesIo", R"({"spec": {"resourceName": "kubernetes.io/custom-device"}})",
       "must not use the reserved kubernetes.io/ or *.kubernetes.io/ prefix", "spec.resourceName"},
      {"ResourceNameSubdomainOfKubernetesIo", R"({"spec": {"resourceName": "devices.kubernetes.io/custom"}})",
       "must not use the reserved kubernetes.io/ or *.kubernetes.io/ prefix", "spec.resourceName"},
      {"ResourceNameRequestsPrefix", R"({"spec": {"resourceName": "requests.hashfoundry.com/custom-device"}})",
       "must not start with 'requests.'", "spec.resourceName"},
      {"ResourceNameNamePartOver63", R"({"spec": {"resourceName": "hashfoundry.com/)" + long_name_part + R"("}})",
       "the name part of resourceName (after '/') must be at most 63 characters", "spec.resourceName"},
      {"ResourceNameUpperCaseDomain", R"({"spec": {"resourceName": "HashFoundry.com/custom-device"}})",
       "resourceName must be <domain>/<name>", "spec.resourceName"},
      {"ResourceNameMissing", R"({"spec": {"resourceName": null}})", "spec.resourceName: Required value",
       "spec.resourceName"},
      {"NoDiscovery", R"({"spec": {"discovery": null}})", "spec.discovery: Required value", "spec.discovery"},
      {"EmptyDiscovery", R"({"spec": {"discovery": {"simulated": null}}})",
       "exactly one of discovery.simulated, discovery.paths or discovery.pci must be set", "spec.discovery"},
      {"TwoDiscoveryMethods", R"({"spec": {"discovery": {"paths": {"globs": ["/dev/fpga*"]}}}})",
       "exactly one of discovery.simulated, discovery.paths or discovery.pci must be set", "spec.discovery"},
      {"CountZero", R"({"spec": {"discovery": {"simulated": {"count": 0}}}})",
       "spec.discovery.simulated.count in body should be greater than or equal to 1", "spec.discovery.simulated.count"},
      {"Count2000", R"({"spec": {"discovery": {"simulated": {"count": 2000}}}})",
       "spec.discovery.simulated.count in body should be less than or equal to 1024", "spec.discovery.simulated.count"},
      {"CountNotAnInteger", R"({"spec": {"discovery": {"simulated": {"count": "four"}}}})",
       "spec.discovery.simulated.count in body must be of type integer", "spec.discovery.simulated.count"},
      {"BadPciVendor", R"({"spec": {"discovery": {"simulated": null, "pci": {"vendor": "10dx"}}}})",
       "pci.vendor must be 4 hexadecimal digits", "spec.discovery.pci.vendor"},
      {"PciVendorWith0x", R"({"spec": {"discovery": {"simulated": null, "pci": {"vendor": "0x10de"}}}})",
       "spec.discovery.pci.vendor", "spec.discovery.pci.vendor"},
      {"BadPciDevice", R"({"spec": {"discovery": {"simulated": null, "pci": {"vendor": "10de", "devices": ["zz"]}}}})",
       "each pci device id must be 4 hexadecimal digits", "spec.discovery.pci.devices[0]"},
      {"RelativeGlob", Globs({"dev/fpga*"}).dump(), under, globs},
      {"NoGlobs", R"({"spec": {"discovery": {"simulated": null, "paths": {"globs": []}}}})",
       "spec.discovery.paths.globs", "spec.discovery.paths.globs"},
      {"GlobTraversal", Globs({"/dev/../etc/shadow"}).dump(), normalised, globs},
      {"GlobOutsideDevAndSys", Globs({"/etc/shadow"}).dump(), under, globs},
      {"GlobUnderProc", Globs({"/proc/1/root/etc/shadow"}).dump(), under, globs},
      {"GlobDevItself", Globs({"/dev"}).dump(), under, globs},
      {"GlobDoubleSlash", Globs({"/dev//fpga0"}).dump(), normalised, globs},
      {"GlobDotSegment", Globs({"/dev/./fpga0"}).dump(), normalised, globs},
      {"GlobTrailingSlash", Globs({"/dev/fpga/"}).dump(), normalised, globs},
      {"GlobMatchingDotDot", Globs({"/dev/.[.]/etc/shadow"}).dump(), normalised, globs},
      {"GlobBraceWithDotDot", Globs({"/dev/{fpga,..}/etc/shadow"}).dump(), "each glob must have {a,b} groups",
       globs},
      {"GlobBraceMakingDotDot", Globs({"/dev/a", "/dev/x{.,.}./etc"}).dump(), "each glob must have {a,b} groups",
       "spec.discovery.paths.globs[1]"},
      {"GlobBackslash", Globs({"/dev/\\.\\./etc"}).dump(), "each glob must not contain a backslash", globs},
      {"GlobNewline", Globs({"/dev/fpga\n0"}).dump(), "each glob must not contain a backslash", globs},
      {"MaxUnavailable150Percent", R"({"spec": {"rollout": {"maxUnavailable": "150%"}}})", maxunavail,
       "spec.rollout.maxUnavailable"},
      {"MaxUnavailableMinusOne", R"({"spec": {"rollout": {"maxUnavailable": -1}}})", maxunavail,
       "spec.rollout.maxUnavailable"},
      {"MaxUnavailableMinusOneString", R"({"spec": {"rollout": {"maxUnavailable": "-1"}}})", maxunavail,
       "spec.rollout.maxUnavailable"},
      {"MaxUnavailableAbc", R"({"spec": {"rollout": {"maxUnavailable": "abc"}}})", maxunavail,
       "spec.rollout.maxUnavailable"},
      {"MaxUnavailableZero", R"({"spec": {"rollout": {"maxUnavailable": 0}}})", maxunavail,
       "spec.rollout.maxUnavailable"},
      {"MaxUnavailableZeroPercent", R"({"spec": {"rollout": {"maxUnavailable": "0%"}}})", maxunavail,
       "spec.rollout.maxUnavailable"},
      {"MaxUnavailableLeadingZero", R"({"spec": {"rollout": {"maxUnavailable": "05%"}}})", maxunavail,
       "spec.rollout.maxUnavailable"},
      {"RolloutStrategyUnknown", R"({"spec": {"rollout": {"strategy": "BlueGreen"}}})", "Unsupported value",
       "spec.rollout.strategy"},
      {"CanaryNodesZero", R"({"spec": {"rollout": {"canary": {"nodes": 0}}}})",
       "canary.nodes must be a positive integer or a percentage from 1% to 100%", "spec.rollout.canary.nodes"},
      {"CanaryNodes101Percent", R"({"spec": {"rollout": {"canary": {"nodes": "101%"}}}})",
       "canary.nodes must be a positive integer or a percentage", "spec.rollout.canary.nodes"},
      {"CanaryBakeTimeNotADuration", R"({"spec": {"rollout": {"canary": {"bakeTime": "2 minutes"}}}})",
       "should match", "spec.rollout.canary.bakeTime"},
      {"ProgressDeadlineZero", R"({"spec": {"rollout": {"progressDeadline": "0s"}}})", "must be above 0",
       "spec.rollout.progressDeadline"},
      {"ProgressDeadlineNotADuration", R"({"spec": {"rollout": {"progressDeadline": "5"}}})", "should match",
       "spec.rollout.progressDeadline"},
      {"AutoRollbackNotABool", R"({"spec": {"rollout": {"autoRollback": "yes"}}})", "must be of type boolean",
       "spec.rollout.autoRollback"},
      {"PausedNotABool", R"({"spec": {"rollout": {"paused": 1}}})", "must be of type boolean",
       "spec.rollout.paused"},
      {"PoolName64Characters", R"({"metadata": {"name": ")" + long_pool_name + R"("}})",
       "metadata.name must be at most 63 characters", "metadata.name"},
      {"PoolNameWithDot", R"({"metadata": {"name": "custom.device"}})", "metadata.name must be a DNS label",
       "metadata.name"},
      {"AllocationApiUnknown", R"({"spec": {"allocationAPI": "Dra"}})",
       R"(spec.allocationAPI: Unsupported value: "Dra")", "spec.allocationAPI"},
      {"AllocationApiNotAString", R"({"spec": {"allocationAPI": 1}})", "spec.allocationAPI in body must be of type string",
       "spec.allocationAPI"},
      {"DraPoolName37Characters",
       R"({"metadata": {"name": ")" + long_dra_pool_name + R"("}, "spec": {"allocationAPI": "DRA"}})",
       "metadata.name must be at most 36 characters for allocationAPI DRA", "metadata.name"},
      {"BadSelectorOperator",
       R"({"spec": {"nodeSelector": {"matchExpressions": [{"key": "zone", "operator": "Gt", "values": ["1"]}]}}})",
       R"(spec.nodeSelector.matchExpressions[0].operator: Unsupported value: "Gt")",
       "spec.nodeSelector.matchExpressions[0].operator"},
      {"InWithoutValues", R"({"spec": {"nodeSelector": {"matchExpressions": [{"key": "zone", "operator": "In"}]}}})",
       "values must be non-empty when operator is In or NotIn", "spec.nodeSelector.matchExpressions[0]"},
      {"NotInWithEmptyValues", Expression({{"key", "zone"}, {"operator", "NotIn"}, {"values", json::array()}}).dump(),
       "values must be non-empty when operator is In or NotIn", "spec.nodeSelector.matchExpressions[0]"},
      {"ExistsWithValues",
       R"({"spec": {"nodeSelector": {"matchExpressions": [{"key": "zone", "operator": "Exists", "values": ["a"]}]}}})",
       "values must be empty when operator is Exists or DoesNotExist", "spec.nodeSelector.matchExpressions[0]"},
      {"DoesNotExistWithValues",
       Expression({{"key", "zone"}, {"operator", "DoesNotExist"}, {"values", {"a"}}}).dump(),
       "values must be empty when operator is Exists or DoesNotExist", "spec.nodeSelector.matchExpressions[0]"},
      {"ExpressionKeyWithSpace", Expression({{"key", "zo ne"}, {"operator", "Exists"}}).dump(),
       "spec.nodeSelector.matchExpressions[0].key", "spec.nodeSelector.matchExpressions[0].key"},
      {"ExpressionKeyTwoSlashes", Expression({{"key", "a/b/c"}, {"operator", "Exists"}}).dump(),
       "spec.nodeSelector.matchExpressions[0].key", "spec.nodeSelector.matchExpressions[0].key"},
      {"ExpressionKeyNameOver63", Expression({{"key", "example.com/" + long_name_part}, {"operator", "Exists"}}).dump(),
       "a label key's prefix (before '/') must be at most 253 characters and its name at most 63",
       "spec.nodeSelector.matchExpressions[0].key"},
      {"ExpressionBadValue", Expression({{"key", "zone"}, {"operator", "In"}, {"values", {"a", "-b"}}}).dump(),
       "spec.nodeSelector.matchExpressions[0].values[1]", "spec.nodeSelector.matchExpressions[0].values[1]"},
      {"MatchLabelsKeyWithBang", R"({"spec": {"nodeSelector": {"matchLabels": {"zone!": "a"}}}})", label_key,
       "spec.nodeSelector.matchLabels"},
      {"MatchLabelsUpperCasePrefix", R"({"spec": {"nodeSelector": {"matchLabels": {"Example.com/zone": "a"}}}})",
       label_key, "spec.nodeSelector.matchLabels"},
      {"MatchLabelsEmptyName", R"({"spec": {"nodeSelector": {"matchLabels": {"example.com/": "a"}}}})", label_key,
       "spec.nodeSelector.matchLabels"},
      {"MatchLabelsNameOver63",
       R"({"spec": {"nodeSelector": {"matchLabels": {")" + long_name_part + R"(": "a"}}}})", label_key,
       "spec.nodeSelector.matchLabels"},
      {"MatchLabelsValueWithSpace", R"({"spec": {"nodeSelector": {"matchLabels": {"zone": "a b"}}}})",
       "spec.nodeSelector.matchLabels", "spec.nodeSelector.matchLabels"},
      {"MatchLabelsValueOver63",
       R"({"spec": {"nodeSelector": {"matchLabels": {"zone": ")" + long_name_part + R"("}}}})",
       "spec.nodeSelector.matchLabels", "spec.nodeSelector.matchLabels"},
      {"BadLogLevel", R"({"spec": {"agent": {"logLevel": "trace"}}})",
       R"(spec.agent.logLevel: Unsupported value: "trace")", "spec.agent.logLevel"},
      {"ImageWithSpace", R"({"spec": {"agent": {"image": "registry.local/agent :v1"}}})", image, "spec.agent.image"},
      {"ImageWithTrailingNewline", R"({"spec": {"agent": {"image": "registry.local/agent:v1\n"}}})", image,
       "spec.agent.image"},
      {"ImageUpperCaseName", R"({"spec": {"agent": {"image": "registry.local/HashFoundry/Agent"}}})", image,
       "spec.agent.image"},
      {"ImageBadTag", R"({"spec": {"agent": {"image": "registry.local/agent:-v1"}}})", image, "spec.agent.image"},
      {"ImageShortDigest", R"({"spec": {"agent": {"image": "agent@sha256:abc"}}})", image, "spec.agent.image"},
      {"ImageEmpty", R"({"spec": {"agent": {"image": ""}}})", image, "spec.agent.image"},
      {"ImageNameOver255", R"({"spec": {"agent": {"image": ")" + std::string(256, 'a') + R"(:v1"}}})",
       "the repository name of image must be at most 255 characters", "spec.agent.image"},
      {"BadPriorityClassName", R"({"spec": {"agent": {"priorityClassName": "High_Priority"}}})",
       "spec.agent.priorityClassName", "spec.agent.priorityClassName"},
      {"TolerationBadKey", R"({"spec": {"agent": {"tolerations": [{"key": "a b", "operator": "Exists"}]}}})",
       "spec.agent.tolerations[0].key", "spec.agent.tolerations[0].key"},
      {"TolerationBadValue", R"({"spec": {"agent": {"tolerations": [{"key": "k", "value": "v!"}]}}})",
       "spec.agent.tolerations[0].value", "spec.agent.tolerations[0].value"},
      {"AllocationHighRatioOver1", R"({"spec": {"monitoring": {"prometheusRule": {"allocationHighRatio": 1.5}}}})",
       "spec.monitoring.prometheusRule.allocationHighRatio in body should be less than or equal to 1",
       "spec.monitoring.prometheusRule.allocationHighRatio"},
      {"ServiceMonitorLabelBadKey", R"({"spec": {"monitoring": {"serviceMonitor": {"labels": {"-x": "y"}}}}})",
       label_key, "spec.monitoring.serviceMonitor.labels"},
      {"PrometheusRuleLabelBadValue", R"({"spec": {"monitoring": {"prometheusRule": {"labels": {"x": "y/z"}}}}})",
       "spec.monitoring.prometheusRule.labels", "spec.monitoring.prometheusRule.labels"},
      {"ReplicasZero", R"({"spec": {"sharing": {"replicas": 0}}})",
       "spec.sharing.replicas in body should be greater than or equal to 1", "spec.sharing.replicas"},
      {"UnknownAllocationPolicy", R"({"spec": {"allocation": {"policy": "spread"}}})",
       R"(spec.allocation.policy: Unsupported value: "spread")", "spec.allocation.policy"},
      {"BadHealthInterval", R"({"spec": {"health": {"interval": "30 seconds"}}})", "spec.health.interval",
       "spec.health.interval"},
      {"HealthIntervalZero", R"({"spec": {"health": {"interval": "0s"}}})", "must be above 0",
       "spec.health.interval"},
      {"HealthIntervalZeroMs", R"({"spec": {"health": {"interval": "0ms"}}})", "must be above 0",
       "spec.health.interval"},
      {"HealthIntervalBeyondGo", R"({"spec": {"health": {"interval": "2562048h"}}})", "spec.health.interval",
       "spec.health.interval"},
      {"ScrapeIntervalZero", R"({"spec": {"monitoring": {"serviceMonitor": {"interval": "0s"}}}})",
       "must be above 0", "spec.monitoring.serviceMonitor.interval"},
      {"AlertForBeyondGo", R"({"spec": {"monitoring": {"prometheusRule": {"unhealthyFor": "9999999h"}}}})",
       "spec.monitoring.prometheusRule.unhealthyFor", "spec.monitoring.prometheusRule.unhealthyFor"},
      {"TolerationExistsWithValue",
       R"({"spec": {"agent": {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}}})",
       "a toleration's value must be empty when its operator is Exists", "spec.agent.tolerations[0]"},
  };
}

class BadSpecTest : public CrdAdmissionTest, public ::testing::WithParamInterface<BadSpec> {};

// Refused by the API server and by the codec, both naming the field: what
// admission lets through, the operator can act on.
TEST_P(BadSpecTest, RejectedAtAdmissionAndByTheCodec) {
  json pool = ValidPool(UniqueName("bad"));
  pool.merge_patch(json::parse(GetParam().patch));
  kube::StatusOr<json> r = client_->Create(DevicePools(), "", pool, {.dry_run = true});
  ASSERT_FALSE(r.ok()) << "accepted: " << pool.dump();
  EXPECT_TRUE(kube::IsInvalid(r.status())) << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr(GetParam().want));
  EXPECT_THAT(r.status().message(), HasSubstr(GetParam().field));

  kube::StatusOr<DevicePool> decoded = DecodeDevicePool(pool);
  ASSERT_FALSE(decoded.ok()) << "the codec accepts what admission refuses: " << pool.dump();
  EXPECT_THAT(decoded.status().message(), HasSubstr(GetParam().field));
}

TEST(BadSpecTableTest, HasEnoughCases) { EXPECT_GE(BadSpecs().size(), 30u); }

INSTANTIATE_TEST_SUITE_P(Table, BadSpecTest, ::testing::ValuesIn(BadSpecs()),
                         [](const ::testing::TestParamInfo<BadSpec>& info) { return info.param.name; });

TEST_F(CrdAdmissionTest, AcceptsEveryFieldAndPercentages) {
  json pool = ValidPool(UniqueName("full"));
  pool["spec"].merge_patch(json::parse(R"({
    "nodeSelector": {"matchLabels": {"Zone_1.x-Y": "", "a.b/c": "V.1_x-2"},
                     "matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a", ""]},
                                          {"key": "gpu", "operator": "DoesNotExist"}]},
    "allocationAPI": "DRA",
    "sharing": {"replicas": 64}, "allocation": {"policy": "none"}, "health": {"interval": "1h30m"},
    "cdi": {"enabled": true},
    "agent": {"image": "registry.local/agent:v1", "imagePullPolicy": "Always", "imagePullSecrets": [{"name": "s"}],
              "resources": {"limits": {"memory": "128Mi", "cpu": 1}},
              "tolerations": [{"operator": "Exists"}, {"key": "k", "value": "v", "effect": "NoExecute",
                                                       "tolerationSeconds": 60}],
              "priorityClassName": "system-node-critical", "logLevel": "error"},
    "rollout": {"maxUnavailable": "100%"},
    "monitoring": {"serviceMonitor": {"labels": {"release": "prom"}},
                   "prometheusRule": {"allocationHighRatio": 0, "pluginDownFor": "2m"}}})"));
  kube::StatusOr<json> created = client_->Create(DevicePools(), "", pool, {.dry_run = true});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  kube::StatusOr<DevicePool> decoded = DecodeDevicePool(*created);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->spec.rollout.max_unavailable.ToJson(), json("100%"));
  EXPECT_EQ(decoded->spec.agent.resources.limits.at("cpu"), "1");
  EXPECT_EQ(decoded->spec.allocation_api, AllocationApi::kDra);
}

// DRA needs a pool name of at most 36 characters (its driver name,
// <pool>.devicepool.hashfoundry.com, is at most 63); DevicePlugin pools keep
// the 63 of a label's name part. Checked on updates too: a pool whose name is
// too long cannot be switched to DRA.
TEST_F(CrdAdmissionTest, DraPoolNamesFitTheDriverName) {
  const std::string dra_name = UniqueName("dra");
  json dra = ValidPool(dra_name + std::string(kMaxDraPoolNameLength - dra_name.size(), 'x'));
  dra["spec"]["allocationAPI"] = "DRA";
  kube::StatusOr<json> created = CreatePool(dra);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(DraDriverName((*created)["metadata"]["name"].get<std::string>()).size(), 63u);
  kube::StatusOr<DevicePool> decoded = DecodeDevicePool(*created);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->spec.allocation_api, AllocationApi::kDra);

  const std::string long_name = UniqueName("long");
  json plugin = ValidPool(long_name + std::string(kMaxPoolNameLength - long_name.size(), 'x'));
  created = CreatePool(plugin);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ((*created)["spec"]["allocationAPI"], "DevicePlugin");
  kube::StatusOr<json> switched =
      client_->Patch(DevicePools(), "", plugin["metadata"]["name"], kube::PatchType::kMerge,
                     R"({"spec": {"allocationAPI": "DRA"}})");
  ASSERT_FALSE(switched.ok()) << "a 63-character pool was switched to DRA";
  EXPECT_TRUE(kube::IsInvalid(switched.status())) << switched.status().ToString();
  EXPECT_THAT(switched.status().message(), HasSubstr("at most 36 characters for allocationAPI DRA"));
  plugin["spec"]["allocationAPI"] = "DRA";
  EXPECT_FALSE(DecodeDevicePool(plugin).ok()) << "the codec accepts what admission refuses";

  // The short pool switches back and forth.
  const std::string short_name = dra["metadata"]["name"];
  for (const char* api : {"DevicePlugin", "DRA"}) {
    kube::StatusOr<json> r = client_->Patch(DevicePools(), "", short_name, kube::PatchType::kMerge,
                                            json{{"spec", {{"allocationAPI", api}}}}.dump());
    ASSERT_TRUE(r.ok()) << api << ": " << r.status().ToString();
    EXPECT_EQ((*r)["spec"]["allocationAPI"], api);
  }
}

TEST_F(CrdAdmissionTest, SampleIsAcceptedWithDefaults) {
  // kubectl reads the YAML; --dry-run=client only converts it.
  const std::string sample_file = std::string(HF_SOURCE_DIR) + "/config/samples/devicepool.yaml";
  CommandResult converted = cluster_.Kubectl({"create", "--dry-run=client", "-o", "json", "-f", sample_file});
  ASSERT_EQ(converted.exit_code, 0) << converted.output;
  json sample = json::parse(converted.output, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(sample.is_object()) << converted.output;
  EXPECT_EQ(sample["metadata"]["name"], "custom-device");
  // Its own name may be taken by an e2e test sharing the cluster.
  sample["metadata"]["name"] = UniqueName("sample");

  kube::StatusOr<json> created = CreatePool(sample);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  const json& spec = (*created)["spec"];
  EXPECT_EQ(spec["discovery"]["simulated"], json::parse(R"({"count": 4, "prefix": "hashfoundry-device"})"));
  EXPECT_EQ(spec["allocationAPI"], "DevicePlugin");
  EXPECT_EQ(spec["sharing"]["replicas"], 1);
  EXPECT_EQ(spec["allocation"]["policy"], "packed");
  EXPECT_EQ(spec["health"]["interval"], "30s");
  EXPECT_EQ(spec["cdi"]["enabled"], false);
  EXPECT_EQ(spec["agent"]["logLevel"], "info");
  EXPECT_EQ(spec["rollout"], json::parse(R"({"strategy": "Managed", "canary": {"nodes": 1, "bakeTime": "2m"},
                                              "maxUnavailable": 1, "progressDeadline": "5m",
                                              "autoRollback": true, "paused": false})"));
  EXPECT_EQ(spec["monitoring"]["serviceMonitor"], json::parse(R"({"enabled": true, "interval": "30s"})"));
  EXPECT_EQ(spec["monitoring"]["prometheusRule"],
            json::parse(R"({"enabled": true, "pluginDownFor": "5m", "unhealthyFor": "5m",
                            "allocationHighRatio": 0.9, "allocationHighFor": "10m"})"));

  // The codec defaults as the API server does.
  kube::StatusOr<DevicePool> stored = DecodeDevicePool(*created);
  kube::StatusOr<DevicePool> written = DecodeDevicePool(sample);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(stored->spec, written->spec);
  EXPECT_EQ(stored->metadata.generation, 1);
}

TEST_F(CrdAdmissionTest, ResourceNameIsImmutable) {
  std::string name = UniqueName("immutable");
  ASSERT_TRUE(CreatePool(ValidPool(name)).ok());
  kube::StatusOr<json> changed = client_->Patch(DevicePools(), "", name, kube::PatchType::kMerge,
                                                R"({"spec": {"resourceName": "hashfoundry.com/other-device"}})");
  ASSERT_FALSE(changed.ok());
  EXPECT_TRUE(kube::IsInvalid(changed.status())) << changed.status().ToString();
  EXPECT_THAT(changed.status().message(), HasSubstr("resourceName is immutable"));
  // Everything else may change.
  kube::StatusOr<json> scaled = client_->Patch(DevicePools(), "", name, kube::PatchType::kMerge,
                                               R"({"spec": {"discovery": {"simulated": {"count": 8}}}})");
  ASSERT_TRUE(scaled.ok()) << scaled.status().ToString();
  EXPECT_EQ((*scaled)["spec"]["discovery"]["simulated"]["count"], 8);
}

TEST_F(CrdAdmissionTest, StatusSubresourceAndPrinterColumns) {
  std::string name = UniqueName("columns");
  ASSERT_TRUE(CreatePool(ValidPool(name)).ok());

  DevicePoolStatus status;
  status.observed_generation = 1;
  const auto now = std::chrono::system_clock::now();
  SetCondition(&status.conditions, {std::string(kConditionReady), ConditionStatus::kTrue, 1, "", "AllNodesReady", ""},
               now);
  SetCondition(&status.conditions,
               {std::string(kConditionConflict), ConditionStatus::kTrue, 1, "", "NodesHeldByOlderPool", "node-4"}, now);
  status.nodes = {4, 3, 3, 2};
  status.devices = {12, 11, 5};
  status.daemon_set = {3, 3, 2, 2};
  status.problem_nodes = {{"node-4", "Conflict", "held by pool older"}};
  status.rollout.phase = RolloutPhase::kRolledBack;
  status.rollout.current_revision = "0123456789abcdef";
  status.rollout.update_revision = "0123456789abcdef";
  status.rollout.failed_revision = "fedcba9876543210";
  status.rollout.updated_nodes = 1;
  status.rollout.total_nodes = 3;
  status.rollout.nodes = {{"node-1", false, "2026-12-06T10:00:00Z", 4, ""},
                          {"node-2", true, "2026-12-06T10:00:01Z", 2, "2026-12-06T10:00:05Z"}};
  status.rollout.failed = {{"node-3", "Registered", "not met within 5m: not registered"}};
  status.rollout.message = "rolling back";
  status.rollout.start_time = "2026-12-06T09:59:00Z";
  json body = {{"apiVersion", kApiVersion},
               {"kind", kDevicePoolKind},
               {"metadata", {{"name", name}}},
               {"status", EncodeDevicePoolStatus(status)}};
  kube::StatusOr<json> applied =
      client_->Apply(DevicePools(), "", body, {.field_manager = kFieldManager, .force = true, .subresource = "status"});
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  kube::StatusOr<DevicePool> decoded = DecodeDevicePool(*applied);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->status, status);

  CommandResult table = KubectlOk({"get", "devicepools", name});
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_EQ(Words(table.output, 0),
            (std::vector<std::string>{"NAME", "RESOURCE", "API", "NODES", "DEVICES", "HEALTHY", "ALLOCATED",
                                      "ROLLOUT", "READY", "AGE"}))
      << table.output;
  std::vector<std::string> row = Words(table.output, 1);
  ASSERT_EQ(row.size(), 10u) << table.output;
  EXPECT_EQ(std::vector<std::string>(row.begin(), row.end() - 1),
            (std::vector<std::string>{name, "hashfoundry.com/custom-device", "DevicePlugin", "2", "12", "11", "5",
                                      "RolledBack", "True"}));

  CommandResult wide = KubectlOk({"get", "dp", name, "-o", "wide"});
  EXPECT_EQ(Words(wide.output, 0), (std::vector<std::string>{"NAME", "RESOURCE", "API", "NODES", "SELECTED",
                                                             "DEVICES", "HEALTHY", "ALLOCATED", "ROLLOUT", "READY",
                                                             "REASON", "AGE"}))
      << wide.output;
  EXPECT_THAT(wide.output, HasSubstr("AllNodesReady"));

  CommandResult ready = cluster_.Kubectl({"wait", "--for=condition=Ready", "--timeout=30s", "devicepool/" + name});
  EXPECT_EQ(ready.exit_code, 0) << ready.output;
  CommandResult category = KubectlOk({"get", "hashfoundry", "-o", "name"});
  EXPECT_THAT(category.output, HasSubstr("devicepool.hashfoundry.com/" + name));

  // Status is the operator's: the main resource ignores it.
  kube::StatusOr<json> patched = client_->Patch(DevicePools(), "", name, kube::PatchType::kMerge,
                                                R"({"status": {"devices": {"total": 99}}})");
  ASSERT_TRUE(patched.ok()) << patched.status().ToString();
  EXPECT_EQ((*patched)["status"]["devices"]["total"], 12);
}

TEST_F(CrdAdmissionTest, DevicePoolNodeAsTheAgentWritesIt) {
  std::string pool = UniqueName("dpn");
  kube::StatusOr<json> owner = CreatePool(ValidPool(pool));
  ASSERT_TRUE(owner.ok()) << owner.status().ToString();

  DevicePoolNode report;
  report.metadata.owner_references = {
      {std::string(kApiVersion), std::string(kDevicePoolKind), pool, (*owner)["metadata"]["uid"], true, true}};
  report.spec = {pool, "node-a"};
  report.status.devices = {{"hashfoundry-device-0", DeviceHealth::kHealthy, 0, "/dev/hashfoundry-device-0"},
                           {"hashfoundry-device-1", DeviceHealth::kUnhealthy, std::nullopt, ""}};
  report.status.counts = {2, 1, 1};
  report.status.registered = true;
  report.status.agent_version = "0.1.0";
  report.status.agent_revision = "5d41402abc4b2a76";
  json obj = EncodeDevicePoolNode(report);
  std::string name = obj["metadata"]["name"];
  pool_nodes_.push_back(name);

  kube::StatusOr<json> created = client_->Apply(DevicePoolNodes(), "", obj, {.field_manager = kFieldManager});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  kube::StatusOr<json> reported =
      client_->Apply(DevicePoolNodes(), "", obj, {.field_manager = kFieldManager, .subresource = "status"});
  ASSERT_TRUE(reported.ok()) << reported.status().ToString();
  kube::StatusOr<DevicePoolNode> decoded = DecodeDevicePoolNode(*reported);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->spec, report.spec);
  EXPECT_EQ(decoded->status, report.status);
  ASSERT_NE(decoded->metadata.ControllerRef(), nullptr);
  EXPECT_EQ(decoded->metadata.ControllerRef()->name, pool);

  CommandResult table = KubectlOk({"get", "dpn", "-l", std::string(kPoolLabel) + "=" + pool});
  EXPECT_EQ(Words(table.output, 0),
            (std::vector<std::string>{"NAME", "POOL", "NODE", "DEVICES", "HEALTHY", "ALLOCATED", "REGISTERED", "AGE"}))
      << table.output;
  std::vector<std::string> row = Words(table.output, 1);
  ASSERT_EQ(row.size(), 8u) << table.output;
  EXPECT_EQ(std::vector<std::string>(row.begin(), row.end() - 1),
            (std::vector<std::string>{name, pool, "node-a", "2", "1", "1", "true"}));

  // What admission refuses an agent.
  json renamed = obj;
  renamed["metadata"]["name"] = pool + ".node-b";
  kube::StatusOr<json> r =
      client_->Apply(DevicePoolNodes(), "", renamed, {.field_manager = kFieldManager, .dry_run = true});
  EXPECT_TRUE(kube::IsInvalid(r.status())) << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr("metadata.name must be <spec.pool>.<spec.node>"));

  json moved = obj;
  moved["spec"]["node"] = "node-b";
  r = client_->Apply(DevicePoolNodes(), "", moved, {.field_manager = kFieldManager, .force = true, .dry_run = true});
  EXPECT_TRUE(kube::IsInvalid(r.status())) << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr("spec.node is immutable"));

  json broken = obj;
  broken["status"]["devices"][0]["health"] = "Broken";
  r = client_->Apply(DevicePoolNodes(), "", broken,
                     {.field_manager = kFieldManager, .subresource = "status", .dry_run = true});
  EXPECT_TRUE(kube::IsInvalid(r.status())) << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr(R"(status.devices[0].health: Unsupported value: "Broken")"));

  // The agent's --revision rule (api::IsAgentRevision) is the CRD's.
  for (const std::string& revision : {std::string(63, 'a'), std::string("v2.0_rc-1")}) {
    json revised = obj;
    revised["status"]["agentRevision"] = revision;
    ASSERT_TRUE(IsAgentRevision(revision));
    r = client_->Apply(DevicePoolNodes(), "", revised,
                       {.field_manager = kFieldManager, .subresource = "status", .dry_run = true});
    EXPECT_TRUE(r.ok()) << revision << ": " << r.status().ToString();
  }
  for (const std::string& revision : {std::string(64, 'a'), std::string("v1/2"), std::string("a b")}) {
    json revised = obj;
    revised["status"]["agentRevision"] = revision;
    EXPECT_FALSE(IsAgentRevision(revision));
    EXPECT_FALSE(DecodeDevicePoolNode(revised).ok()) << revision;
    r = client_->Apply(DevicePoolNodes(), "", revised,
                       {.field_manager = kFieldManager, .subresource = "status", .dry_run = true});
    EXPECT_TRUE(kube::IsInvalid(r.status())) << revision << ": " << r.status().ToString();
    EXPECT_THAT(r.status().message(), HasSubstr("status.agentRevision")) << revision;
  }
}

}  // namespace
}  // namespace hf::api
