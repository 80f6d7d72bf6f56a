// Golden tests of the desired children. HF_UPDATE_GOLDEN=1 rewrites the files
// under tests/operator/golden/ from the current output; review the diff.
#include "operator/desired.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "api/device_pool.h"

namespace hf::controller {
namespace {

api::DevicePool SamplePool() {
  Json obj = Json::parse(R"({
    "apiVersion": "hashfoundry.com/v1alpha1", "kind": "DevicePool",
    "metadata": {"name": "custom-device", "uid": "0b4f3d6e-1111-2222-3333-444455556666", "generation": 3},
    "spec": {
      "resourceName": "hashfoundry.com/custom-device",
      "nodeSelector": {"matchLabels": {"hashfoundry.com/custom-device": "enabled"}},
      "discovery": {"simulated": {"count": 4, "prefix": "hashfoundry-device"}},
      "agent": {"tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}],
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}},
      "monitoring": {"prometheusRule": {"allocationHighRatio": 0.8}}
    }})");
  auto pool = api::DecodeDevicePool(obj);
  EXPECT_TRUE(pool.ok()) << pool.status().ToString();
  return *pool;
}

// The sample pool served through DRA.
api::DevicePool DraPool() {
  api::DevicePool pool = SamplePool();
  pool.spec.allocation_api = api::AllocationApi::kDra;
  return pool;
}

std::string TemplateHash(const Json& ds) {
  return ds["spec"]["template"]["metadata"]["annotations"][kTemplateHashAnnotation].get<std::string>();
}

// hostPath volume name -> {path, type}, and mount path -> readOnly.
std::map<std::string, std::pair<std::string, std::string>> HostPaths(const Json& ds) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  for (const auto& v : ds["spec"]["template"]["spec"]["volumes"]) {
    out[v["name"]] = {v["hostPath"]["path"], v["hostPath"]["type"]};
  }
  return out;
}
std::map<std::string, bool> Mounts(const Json& ds) {
  std::map<std::string, bool> out;
  for (const auto& m : ds["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]) {
    out[m["mountPath"]] = m.value("readOnly", false);
  }
  return out;
}

void ExpectGolden(const std::string& name, const Json& got) {
  const std::string path = std::string(HF_SOURCE_DIR) + "/tests/operator/golden/" + name + ".json";
  if (const char* up = std::getenv("HF_UPDATE_GOLDEN"); up != nullptr && std::string(up) == "1") {
    std::ofstream(path) << got.dump(2) << "\n";
  }
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << "missing golden file " << path << " (run with HF_UPDATE_GOLDEN=1)";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(got, Json::parse(ss.str())) << name << " differs from its golden file; got:\n" << got.dump(2);
}

TEST(DesiredTest, Golden) {
  OperatorConfig cfg;
  auto pool = SamplePool();
  ExpectGolden("serviceaccount", DesiredServiceAccount(pool, cfg));
  ExpectGolden("clusterrolebinding", DesiredClusterRoleBinding(pool, cfg));
  ExpectGolden("daemonset", DesiredDaemonSet(pool, cfg));
  ExpectGolden("service", DesiredService(pool, cfg));
  ExpectGolden("servicemonitor", DesiredServiceMonitor(pool, cfg));
  ExpectGolden("prometheusrule", DesiredPrometheusRule(pool, cfg));
  ExpectGolden("daemonset-dra", DesiredDaemonSet(DraPool(), cfg));
  ExpectGolden("deviceclass", DesiredDeviceClass(DraPool(), cfg));
}

TEST(DesiredTest, DeviceClassSelectsThePoolsDriverAndServesItsResource) {
  OperatorConfig cfg;
  Json dc = DesiredDeviceClass(DraPool(), cfg);
  EXPECT_EQ(dc["apiVersion"], "resource.k8s.io/v1");
  EXPECT_EQ(dc["metadata"]["name"], "custom-device.devicepool.hashfoundry.com");
  EXPECT_FALSE(dc["metadata"].contains("namespace"));
  EXPECT_EQ(dc["spec"]["selectors"],
            Json::parse(R"([{"cel": {"expression": "device.driver == \"custom-device.devicepool.hashfoundry.com\""}}])"));
  EXPECT_EQ(dc["spec"]["extendedResourceName"], "hashfoundry.com/custom-device");
  EXPECT_EQ(DeviceClasses().ApiVersion(), "resource.k8s.io/v1");
  EXPECT_FALSE(DeviceClasses().namespaced);
  EXPECT_FALSE(ResourceSlices().namespaced);
}

TEST(DesiredTest, DraAgentsGetTheDraFlagsAndKubeletPluginDirectories) {
  OperatorConfig cfg;
  cfg.cdi_dir = "/etc/cdi";
  auto args = AgentArgs(DraPool(), cfg);
  auto has = [&](const std::string& a) { return std::find(args.begin(), args.end(), a) != args.end(); };
  EXPECT_TRUE(has("--allocation-api=DRA"));
  EXPECT_TRUE(has("--driver-name=custom-device.devicepool.hashfoundry.com"));
  EXPECT_TRUE(has("--plugins-dir=/var/lib/kubelet/plugins"));
  EXPECT_TRUE(has("--plugins-registry-dir=/var/lib/kubelet/plugins_registry"));
  // DRA prepares claims with CDI whatever cdi.enabled says.
  EXPECT_TRUE(has("--cdi=true"));
  EXPECT_TRUE(has("--cdi-dir=/etc/cdi"));
  EXPECT_TRUE(has("--pod-resources-socket=/var/lib/kubelet/pod-resources/kubelet.sock"));
  EXPECT_FALSE(has("--kubelet-dir=/var/lib/kubelet/device-plugins"));

  Json ds = DesiredDaemonSet(DraPool(), cfg);
  auto paths = HostPaths(ds);
  using Path = std::pair<std::string, std::string>;
  EXPECT_EQ(paths["dra-plugins"], Path("/var/lib/kubelet/plugins", "DirectoryOrCreate"));
  EXPECT_EQ(paths["plugins-registry"], Path("/var/lib/kubelet/plugins_registry", "DirectoryOrCreate"));
  EXPECT_EQ(paths["cdi"], Path("/etc/cdi", "DirectoryOrCreate"));
  EXPECT_EQ(paths["pod-resources"], Path("/var/lib/kubelet/pod-resources", "DirectoryOrCreate"));
  EXPECT_EQ(paths.count("device-plugins"), 0u);
  auto mounts = Mounts(ds);
  EXPECT_EQ(mounts, (std::map<std::string, bool>{{"/var/lib/kubelet/plugins", false},
                                                 {"/var/lib/kubelet/plugins_registry", false},
                                                 {"/etc/cdi", false},
                                                 {"/var/lib/kubelet/pod-resources", true},
                                                 {"/var/lib/hashfoundry/devices", false}}));
}

TEST(DesiredTest, TheNotRegisteredAlertPointsAtTheKubeletSocketOfTheApi) {
  OperatorConfig cfg;
  auto description = [&](const api::DevicePool& pool) {
    return DesiredPrometheusRule(pool, cfg)["spec"]["groups"][0]["rules"][1]["annotations"]["description"]
        .get<std::string>();
  };
  EXPECT_NE(description(SamplePool()).find("device-plugins/kubelet.sock"), std::string::npos);
  EXPECT_NE(description(DraPool()).find("plugins_registry/custom-device.devicepool.hashfoundry.com-reg.sock"),
            std::string::npos)
      << description(DraPool());
}

// DevicePlugin pools' agents get no --allocation-api: their template is what
// it was before the field existed, so an operator upgrade rolls no pool (the
// daemonset golden file is that template).
TEST(DesiredTest, DevicePluginAgentsAreAsBefore) {
  OperatorConfig cfg;
  auto args = AgentArgs(SamplePool(), cfg);
  for (const auto& a : args) {
    EXPECT_EQ(a.rfind("--allocation-api", 0), std::string::npos) << a;
    EXPECT_EQ(a.rfind("--driver-name", 0), std::string::npos) << a;
  }
  EXPECT_NE(std::find(args.begin(), args.end(), "--kubelet-dir=/var/lib/kubelet/device-plugins"), args.end());
  EXPECT_EQ(HostPaths(DesiredDaemonSet(SamplePool(), cfg)).count("dra-plugins"), 0u);
}

// Switching the allocation API is a new agent template, which the managed
// rollout takes node by node like any other (rollout_test covers the rest).
TEST(DesiredTest, SwitchingTheAllocationApiChangesTheTemplateHash) {
  OperatorConfig cfg;
  const std::string plugin = TemplateHash(DesiredDaemonSet(SamplePool(), cfg));
  const std::string dra = TemplateHash(DesiredDaemonSet(DraPool(), cfg));
  EXPECT_NE(plugin, dra);
  api::DevicePool back = DraPool();
  back.spec.allocation_api = api::AllocationApi::kDevicePlugin;
  EXPECT_EQ(TemplateHash(DesiredDaemonSet(back, cfg)), plugin) << "switching back is the old template again";
  // Managed: the DaemonSet leaves the replacement of agents to the operator.
  EXPECT_EQ(DesiredDaemonSet(DraPool(), cfg)["spec"]["updateStrategy"]["type"], "OnDelete");
}

TEST(DesiredTest, EveryChildIsOwnedByThePool) {
  OperatorConfig cfg;
  auto pool = SamplePool();
  for (const Json& child : {DesiredServiceAccount(pool, cfg), DesiredClusterRoleBinding(pool, cfg),
                            DesiredDaemonSet(pool, cfg), DesiredService(pool, cfg), DesiredServiceMonitor(pool, cfg),
                            DesiredPrometheusRule(pool, cfg), DesiredDeviceClass(DraPool(), cfg)}) {
    SCOPED_TRACE(child["kind"].get<std::string>());
    const Json& ref = child["metadata"]["ownerReferences"][0];
    EXPECT_EQ(ref["uid"], pool.metadata.uid);
    EXPECT_EQ(ref["controller"], true);
    EXPECT_EQ(child["metadata"]["labels"][kManagedByLabel], kManagedByValue);
    EXPECT_FALSE(child["metadata"]["annotations"][kSpecHashAnnotation].get<std::string>().empty());
  }
}

TEST(DesiredTest, SpecChangeChangesTheTemplateHash) {
  OperatorConfig cfg;
  auto pool = SamplePool();
  Json before = DesiredDaemonSet(pool, cfg);
  pool.spec.sharing.replicas = 2;
  Json after = DesiredDaemonSet(pool, cfg);
  const auto hash = [](const Json& ds) {
    return ds["spec"]["template"]["metadata"]["annotations"][kTemplateHashAnnotation].get<std::string>();
  };
  EXPECT_NE(hash(before), hash(after));
  EXPECT_NE(before["metadata"]["annotations"][kSpecHashAnnotation], after["metadata"]["annotations"][kSpecHashAnnotation]);
  pool.spec.monitoring.service_monitor.interval = "10s";  // not part of the DaemonSet
  EXPECT_EQ(hash(after), hash(DesiredDaemonSet(pool, cfg)));
}

TEST(DesiredTest, AgentArgsFollowDiscovery) {
  OperatorConfig cfg;
  auto pool = SamplePool();
  pool.spec.discovery = api::PciDiscovery{"10de", {"1eb8", "20b0"}};
  pool.spec.cdi.enabled = true;
  auto args = AgentArgs(pool, cfg);
  auto has = [&](const std::string& a) { return std::find(args.begin(), args.end(), a) != args.end(); };
  EXPECT_TRUE(has("--discovery=pci"));
  EXPECT_TRUE(has("--pci-vendor=10de"));
  EXPECT_TRUE(has("--pci-device=20b0"));
  EXPECT_TRUE(has("--cdi=true"));
  EXPECT_TRUE(has("--sys-root=/sys"));
  Json ds = DesiredDaemonSet(pool, cfg);
  bool sys_mounted = false;
  for (const auto& m : ds["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]) {
    if (m["mountPath"] == "/sys") sys_mounted = m.value("readOnly", false);
  }
  EXPECT_TRUE(sys_mounted);
}

TEST(DesiredTest, LongPoolNamesGiveValidChildNames) {
  std::string pool(63, 'p');
  std::string name = ChildName(pool);
  EXPECT_LE(name.size(), 63u);
  EXPECT_EQ(name.rfind("devicepool-", 0), 0u);
  EXPECT_NE(ChildName(pool), ChildName(std::string(62, 'p') + "q"));
  EXPECT_EQ(ChildName("x"), "devicepool-x");
}

TEST(IsSubsetTest, ServerDefaultsDoNotCountAsDrift) {
  Json desired = {{"spec", {{"containers", Json::array({{{"name", "a"}, {"image", "i"}}})}, {"replicas", 1}}}};
  Json actual = {{"spec", {{"containers", Json::array({{{"name", "a"}, {"image", "i"}, {"imagePullPolicy", "Always"}}})},
                           {"replicas", 1.0},
                           {"revisionHistoryLimit", 10}}}};
  EXPECT_TRUE(IsSubset(desired, actual));
  actual["spec"]["containers"][0]["image"] = "hand-edited";
  EXPECT_FALSE(IsSubset(desired, actual));
  actual["spec"]["containers"][0]["image"] = "i";
  actual["spec"]["containers"].push_back({{"name", "sidecar"}});
  EXPECT_FALSE(IsSubset(desired, actual));  // an extra container is drift
  EXPECT_FALSE(IsSubset(desired, Json::object()));
}

TEST(IsSubsetTest, QuantitiesCompareByValue) {
  auto resources = [](const char* cpu, const char* memory) {
    return Json{{"resources", {{"limits", {{"cpu", cpu}, {"memory", memory}}}}}};
  };
  // What the API server stores for what a pool asked for.
  EXPECT_TRUE(IsSubset(resources("0.5", "0.5Gi"), resources("500m", "512Mi")));
  EXPECT_TRUE(IsSubset(resources("1000m", "1G"), resources("1", "1000M")));
  EXPECT_TRUE(IsSubset(resources("2e3", "1536Mi"), resources("2k", "1.5Gi")));
  EXPECT_FALSE(IsSubset(resources("0.5", "512Mi"), resources("501m", "512Mi")));
  EXPECT_FALSE(IsSubset(resources("1", "1Gi"), resources("1", "1G")));
  Json actual = resources("1", "1Gi");
  actual["resources"]["limits"]["nvidia.com/gpu"] = "1";
  EXPECT_FALSE(IsSubset(resources("1", "1Gi"), actual)) << "an extra limit is drift";
  EXPECT_FALSE(IsSubset(resources("1", "1Gi"), Json{{"resources", {{"limits", {{"cpu", "1"}}}}}}));
}

TEST(ParseQuantityTest, ExactValues) {
  auto v = [](const char* s) { return ParseQuantity(s); };
  EXPECT_EQ(v("500m"), v("0.5"));
  EXPECT_EQ(v("1Ki"), v("1024"));
  EXPECT_EQ(v("1Ei"), v("1152921504606846976"));
  EXPECT_EQ(v("100n"), v("0.0000001"));
  EXPECT_EQ(v("-0"), v("0m"));
  EXPECT_EQ(v("+1.5e-3"), v("1.5m"));
  ASSERT_TRUE(v("12.50k").has_value());
  EXPECT_EQ(v("12.50k")->digits, "125");
  EXPECT_EQ(v("12.50k")->exponent, 2);
  EXPECT_NE(v("1m"), v("1"));
  EXPECT_NE(v("-1"), v("1"));
  for (const char* bad : {"", "m", "1x", "1e", "1ee3", "1e12345", "1..5", "Gi", "1 Gi", "0x10"}) {
    EXPECT_FALSE(v(bad).has_value()) << bad;
  }
}

TEST(DeviceCountTest, WholeCountsOnly) {
  EXPECT_EQ(DeviceCount("4"), 4);
  EXPECT_EQ(DeviceCount("0"), 0);  // a node whose agent just went away
  EXPECT_EQ(DeviceCount("1k"), 1000);
  EXPECT_EQ(DeviceCount("120"), 120);
  EXPECT_EQ(DeviceCount("500m"), 0);
  EXPECT_EQ(DeviceCount("-3"), 0);
  EXPECT_EQ(DeviceCount("1E"), 0);
  EXPECT_EQ(DeviceCount(""), 0);
  EXPECT_EQ(DeviceCount("four"), 0);
}

}  // namespace
}  // namespace hf::controller
