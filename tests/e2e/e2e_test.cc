// End to end: the sample pool on three simulated nodes (the fixture is in
// e2e_fixture.h), from Ready to device loss, kubelet restarts, the seed's
// workloads and deletion.
#include "tests/e2e/e2e_fixture.h"

#include <algorithm>

namespace hf::e2e {
namespace {

using hf::testing::At;
using hf::testing::Eventually;
using hf::testing::StringAt;
using kube::Json;
using std::chrono::seconds;

TEST_F(E2eTest, SamplePoolBecomesReadyOnEveryNode) {
  auto k = WaitPoolReady();
  ASSERT_EQ(k.exit_code, 0) << k.output << Logs();

  Json pool = Get(api::DevicePools(), "", kPool);
  EXPECT_EQ(At(pool, {"status", "devices", "total"}), kNodes * kDevicesPerNode) << pool.dump(2);
  EXPECT_EQ(At(pool, {"status", "devices", "healthy"}), kNodes * kDevicesPerNode);
  std::set<std::string> reported;
  for (const auto& pn : List(api::DevicePoolNodes(), "", std::string(api::kPoolLabel) + "=" + kPool)) {
    reported.insert(StringAt(pn, {"spec", "node"}));
    EXPECT_EQ(At(pn, {"status", "registered"}), true) << pn.dump(2);
  }
  std::set<std::string> want;
  for (const auto& n : nodes_) {
    want.insert(n.name);
    SCOPED_TRACE(n.name);
    Json node = Get(kube::resources::Nodes(), "", n.name);
    EXPECT_EQ(StringAt(node, {"metadata", "labels", api::NodeSelectionLabel(kPool).c_str()}), "enabled");
    EXPECT_EQ(NodeResource(n.name, "allocatable"), "4");
    EXPECT_EQ(NodeResource(n.name, "capacity"), "4");
    // The agent runs as the DaemonSet's pod: Running and Ready, its
    // simulated devices created under the node's root.
    Json agent = AgentPod(n.name);
    EXPECT_EQ(StringAt(agent, {"status", "phase"}), "Running");
    EXPECT_TRUE(fs::exists(n.root + "/var/lib/hashfoundry/devices/" + kPool + "/hashfoundry-device-3"));
    EXPECT_TRUE(fs::exists(n.root + "/var/lib/kubelet/device-plugins/hashfoundry.com_custom-device.sock"));
  }
  // Each agent wrote only its own node's report: the chart's admission
  // policy checks the node its pod-bound token names.
  EXPECT_EQ(reported, want);
}

TEST_F(E2eTest, SeedPodsGetUniqueDevicesFromTheScheduler) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  ASSERT_NO_FATAL_FAILURE(ApplySeedWorkloads());

  // single (1 device), multi (2) and the Deployment's two replicas (1 each).
  std::vector<Json> pods;
  auto all_ready = [&] {
    pods = List(kube::resources::Pods(), kSeedNamespace, "");
    if (pods.size() != 4) return false;
    for (const auto& p : pods) {
      if (StringAt(p, {"status", "phase"}) != "Running" || StringAt(p, {"metadata", "annotations", kAllocationAnnotation}).empty()) {
        return false;
      }
    }
    return true;
  };
  ASSERT_TRUE(Eventually(all_ready, seconds(120))) << Kubectl({"get", "pods", "-A", "-o", "wide"}).output << Logs();
  auto k = Kubectl({"wait", "--for=condition=Ready", "pod", "--all", "-n", kSeedNamespace, "--timeout=60s"});
  EXPECT_EQ(k.exit_code, 0) << k.output;

  std::set<std::string> held;  // node/device: a device goes to one container at most
  std::map<std::string, std::string> node_of;
  for (const auto& p : pods) {
    const std::string name = p["metadata"]["name"];
    SCOPED_TRACE(name);
    const std::string node = StringAt(p, {"spec", "nodeName"});
    node_of[name] = node;
    bool ours = false;
    for (const auto& n : nodes_) ours |= n.name == node;
    EXPECT_TRUE(ours) << "scheduled to " << node;
    Json rec = Json::parse(StringAt(p, {"metadata", "annotations", kAllocationAnnotation}));
    ASSERT_EQ(rec["node"], node);
    ASSERT_EQ(rec["containers"].size(), 1u) << rec.dump(2);
    const Json& c = rec["containers"][0];
    std::vector<std::string> ids = c["devices"].value(kResource, std::vector<std::string>{});
    size_t want = name == "device-test-multi" ? 2 : 1;
    EXPECT_EQ(ids.size(), want) << rec.dump(2);
    for (const auto& id : ids) EXPECT_TRUE(held.insert(node + "/" + id).second) << id << " on " << node << " twice";
    // What the agent's Allocate answered, as the container would see it.
    EXPECT_EQ(Split(c["env"].value("HASHFOUNDRY_DEVICE_IDS", ""), ','), std::set<std::string>(ids.begin(), ids.end()));
    EXPECT_EQ(c["env"].value("HASHFOUNDRY_DEVICE_COUNT", ""), std::to_string(want));
    EXPECT_EQ(c["env"].value("KUBERNETES_SERVICE_HOST", ""), "127.0.0.1");
    ASSERT_EQ(c["mounts"].size(), want);
    for (const auto& m : c["mounts"]) {
      EXPECT_EQ(m["containerPath"].get<std::string>().rfind("/dev/hashfoundry-device-", 0), 0u) << m.dump();
      // The host path is the node's: under its root in the simulation.
      std::string root;
      for (const auto& n : nodes_) {
        if (n.name == node) root = n.root;
      }
      EXPECT_TRUE(fs::exists(root + m["hostPath"].get<std::string>())) << m.dump();
    }
    if (name.rfind("device-workload-", 0) == 0) {
      // The seed's DEVICE_ID=$(HASHFOUNDRY_DEVICE_ID): a kubelet expands
      // $(VAR) only from the container's own env and service variables, not
      // from what a device plugin adds, so it stays literal.
      EXPECT_EQ(c["env"].value("DEVICE_ID", ""), "$(HASHFOUNDRY_DEVICE_ID)");
    }
  }
  EXPECT_EQ(held.size(), 5u);
  // The agents count allocations through the kubelet's PodResources API.
  EXPECT_TRUE(Eventually([&] { return At(Get(api::DevicePools(), "", kPool), {"status", "devices", "allocated"}) == 5; },
                         seconds(90)))
      << Get(api::DevicePools(), "", kPool)["status"].dump(2);
}

// The HASHFOUNDRY_* variables a script refers to ($VAR, ${VAR}, $(VAR)).
std::set<std::string> VariablesUsed(const std::string& script) {
  static const std::regex ref(R"(\$[{(]?(HASHFOUNDRY_[A-Z0-9_]+))");
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(script.begin(), script.end(), ref); it != std::sregex_iterator(); ++it) {
    out.insert((*it)[1]);
  }
  return out;
}

// Everything a container's shell runs: command, args and postStart.
std::string Scripts(const Json& container) {
  std::string all;
  for (const char* key : {"command", "args"}) {
    for (const auto& part : container.value(key, Json::array())) all += part.get<std::string>() + "\n";
  }
  for (const auto& part : At(container, {"lifecycle", "postStart", "exec", "command"}).is_array()
                              ? At(container, {"lifecycle", "postStart", "exec", "command"})
                              : Json::array()) {
    all += part.get<std::string>() + "\n";
  }
  return all;
}

// sim-kubelet does not run busybox or nginx; it records what the kubelet's
// device manager got back from the agent's Allocate (the env and mounts a
// runtime would give the container). Each of the seed's workloads must find
// there every variable its script prints, with values that hold: the seed's
// HASHFOUNDRY_DEVICE_ID is a device the container got, not shared with
// another container on the node, and the first of HASHFOUNDRY_DEVICE_IDS;
// HASHFOUNDRY_DEVICE_PATH is that device's mount, a file on the node; and
// the scripts' `ls /dev/hashfoundry-device-*` finds HASHFOUNDRY_DEVICE_COUNT
// files.
TEST_F(E2eTest, SeedWorkloadsSeeEveryVariableTheyPrint) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  ASSERT_NO_FATAL_FAILURE(ApplySeedWorkloads());
  std::vector<Json> pods;
  ASSERT_TRUE(Eventually(
      [&] {
        pods = List(kube::resources::Pods(), kSeedNamespace, "");
        if (pods.size() != 4) return false;
        for (const auto& p : pods) {
          if (StringAt(p, {"metadata", "annotations", kAllocationAnnotation}).empty()) return false;
        }
        return true;
      },
      seconds(120)))
      << Kubectl({"get", "pods", "-A", "-o", "wide"}).output << Logs();

  // What each script prints beyond what it names: `env | grep HASHFOUNDRY`
  // prints them all, so the single pod must see the whole contract.
  const std::set<std::string> contract{"HASHFOUNDRY_DEVICE_IDS", "HASHFOUNDRY_DEVICE_COUNT", "HASHFOUNDRY_DEVICE_ID",
                                       "HASHFOUNDRY_DEVICE_PATH", "HASHFOUNDRY_DEVICE_0_PATH"};
  std::set<std::string> held;  // node/device of every HASHFOUNDRY_DEVICE_ID
  std::set<std::string> workloads;
  for (const auto& p : pods) {
    const std::string name = p["metadata"]["name"];
    SCOPED_TRACE(name);
    const std::string node = StringAt(p, {"spec", "nodeName"});
    std::string root;
    for (const auto& n : nodes_) {
      if (n.name == node) root = n.root;
    }
    ASSERT_FALSE(root.empty()) << "scheduled to " << node;
    const Json spec = At(p, {"spec", "containers"}).at(0);
    std::string script = Scripts(spec);
    std::set<std::string> used = VariablesUsed(script);
    if (name == "device-test-single") {
      workloads.insert("single");
      ASSERT_NE(script.find("env | grep HASHFOUNDRY"), std::string::npos) << script;
      used.insert(contract.begin(), contract.end());
    } else if (name == "device-test-multi") {
      workloads.insert("multi");
      EXPECT_EQ(used, (std::set<std::string>{"HASHFOUNDRY_DEVICE_COUNT", "HASHFOUNDRY_DEVICE_ID"}));
    } else {
      workloads.insert("deployment");
      // postStart's $HASHFOUNDRY_DEVICE_ID; the env's $(HASHFOUNDRY_DEVICE_ID)
      // is checked in SeedPodsGetUniqueDevicesFromTheScheduler.
      EXPECT_EQ(used, (std::set<std::string>{"HASHFOUNDRY_DEVICE_ID"}));
    }
    Json rec = Json::parse(StringAt(p, {"metadata", "annotations", kAllocationAnnotation}));
    ASSERT_EQ(rec["containers"].size(), 1u) << rec.dump(2);
    const Json& c = rec["containers"][0];
    const Json& env = c["env"];
    for (const auto& v : used) EXPECT_TRUE(env.contains(v)) << v << " is not in the container's env: " << c.dump(2);

    std::vector<std::string> ids = c["devices"].value(kResource, std::vector<std::string>{});
    ASSERT_FALSE(ids.empty()) << rec.dump(2);
    const std::string id = env.value("HASHFOUNDRY_DEVICE_ID", "");
    EXPECT_EQ(env.value("HASHFOUNDRY_DEVICE_IDS", "").substr(0, id.size() + 1), id + (ids.size() > 1 ? "," : ""));
    EXPECT_NE(std::find(ids.begin(), ids.end(), id), ids.end()) << id;
    EXPECT_TRUE(held.insert(node + "/" + id).second) << id << " is another container's HASHFOUNDRY_DEVICE_ID on " << node;
    // The device files the scripts list and read.
    std::map<std::string, std::string> host_of;  // container path -> host path
    for (const auto& m : c["mounts"]) host_of[m["containerPath"]] = m["hostPath"];
    int listed = 0;
    for (const auto& [in_container, on_host] : host_of) {
      if (in_container.rfind("/dev/hashfoundry-device-", 0) != 0) continue;
      ++listed;
      EXPECT_TRUE(fs::is_regular_file(root + on_host)) << on_host;
    }
    EXPECT_EQ(std::to_string(listed), env.value("HASHFOUNDRY_DEVICE_COUNT", ""));
    const std::string path = env.value("HASHFOUNDRY_DEVICE_PATH", "");
    EXPECT_EQ(path, "/dev/" + id);  // simulated device ids are their file names
    ASSERT_TRUE(host_of.count(path)) << path << " is not mounted";
    EXPECT_EQ(fs::path(host_of[path]).filename(), id);
  }
  EXPECT_EQ(workloads, (std::set<std::string>{"single", "multi", "deployment"}));
  EXPECT_EQ(held.size(), 4u);
}

TEST_F(E2eTest, LosingADeviceDegradesThePoolUntilItIsBack) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  const SimNode& n = nodes_[0];
  const std::string device = n.root + "/var/lib/hashfoundry/devices/" + kPool + "/hashfoundry-device-3";
  const std::string aside = work_ + "/hashfoundry-device-3.removed";
  fs::rename(device, aside);

  EXPECT_TRUE(Eventually([&] { return NodeResource(n.name, "allocatable") == "3"; }, seconds(60))) << Logs();
  EXPECT_EQ(NodeResource(n.name, "capacity"), "4");  // unhealthy devices still count in capacity
  EXPECT_TRUE(Eventually([&] { return Condition("Degraded") == "True"; }, seconds(60)));
  EXPECT_EQ(Condition("Ready"), "False");
  EXPECT_EQ(NodeResource(nodes_[1].name, "allocatable"), "4");

  fs::rename(aside, device);
  EXPECT_TRUE(Eventually([&] { return NodeResource(n.name, "allocatable") == "4"; }, seconds(60))) << Logs();
  EXPECT_TRUE(Eventually([&] { return Condition("Degraded") == "False" && Condition("Ready") == "True"; },
                         seconds(60)));
}

// The sim-kubelet's kubelet_device_plugin_registration_total for the pool's
// resource, from the metrics it serves on its Node's kubelet endpoint.
double Registrations(const Json& node) {
  Json port = At(node, {"status", "daemonEndpoints", "kubeletEndpoint", "Port"});
  if (!port.is_number_integer()) return -1;
  auto r = hf::testing::Run({"curl", "-sf", "http://127.0.0.1:" + std::to_string(port.get<int>()) + "/metrics"});
  std::smatch m;
  static const std::regex line(
      R"re(kubelet_device_plugin_registration_total\{resource_name="hashfoundry.com/custom-device"\} ([0-9.e+]+))re");
  return std::regex_search(r.output, m, line) ? std::stod(m[1]) : 0;
}

TEST_F(E2eTest, TheAgentRegistersAgainAfterAKubeletRestart) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  const SimNode& n = nodes_[1];
  Json node = Get(kube::resources::Nodes(), "", n.name);
  const double before = Registrations(node);
  ASSERT_GE(before, 1) << "the agent has not registered";
  std::string agent_uid = StringAt(AgentPod(n.name), {"metadata", "uid"});

  // A kubelet restart: a new device manager deletes every plugin socket and
  // listens again; the agent notices and registers again.
  int port = At(node, {"status", "daemonEndpoints", "kubeletEndpoint", "Port"});
  auto r = hf::testing::Run({"curl", "-sf", "-XPOST", "http://127.0.0.1:" + std::to_string(port) + "/restart"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Eventually([&] { return Registrations(node) > before; }, seconds(60))) << Logs();
  EXPECT_TRUE(Eventually([&] { return NodeResource(n.name, "allocatable") == "4"; }, seconds(60)));
  EXPECT_TRUE(fs::exists(n.root + "/var/lib/kubelet/device-plugins/hashfoundry.com_custom-device.sock"));
  // The same agent process did it: a restarted kubelet leaves pods running.
  Json agent = AgentPod(n.name);
  EXPECT_EQ(StringAt(agent, {"metadata", "uid"}), agent_uid);
  EXPECT_EQ(At(agent, {"status", "containerStatuses"}).at(0).value("restartCount", -1), 0);
  EXPECT_EQ(WaitPoolReady().exit_code, 0);
}

TEST_F(E2eTest, DeletingThePoolRemovesLabelsDaemonSetAndReports) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  const std::string child = std::string("devicepool-") + kPool;
  ASSERT_FALSE(Get(kube::resources::DaemonSets(), release_, child).is_null());
  ASSERT_EQ(List(api::DevicePoolNodes(), "", std::string(api::kPoolLabel) + "=" + kPool).size(), size_t{kNodes});

  auto k = Kubectl({"delete", "devicepool", kPool, "--timeout=120s"});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  EXPECT_TRUE(List(kube::resources::Nodes(), "", api::NodeSelectionLabel(kPool)).empty());
  EXPECT_TRUE(Eventually([&] { return Get(kube::resources::DaemonSets(), release_, child).is_null(); }, seconds(60)));
  EXPECT_TRUE(Eventually(
      [&] { return List(api::DevicePoolNodes(), "", std::string(api::kPoolLabel) + "=" + kPool).empty(); },
      seconds(60)));
  // The agents stop (sim-kubelet confirms their pods' deletion); with its
  // plugin gone the kubelet reports no allocatable devices.
  EXPECT_TRUE(Eventually(
      [&] { return List(kube::resources::Pods(), release_, std::string(api::kPoolLabel) + "=" + kPool).empty(); },
      seconds(60)));
  for (const auto& n : nodes_) {
    EXPECT_TRUE(Eventually([&] { return NodeResource(n.name, "allocatable") == "0"; }, seconds(60))) << n.name;
  }
}

// The pool's traces on a node: its simulated device files and its CDI spec.
std::string DeviceFile(const std::string& root, int i) {
  return root + "/var/lib/hashfoundry/devices/" + kPool + "/hashfoundry-device-" + std::to_string(i);
}
std::string CdiSpecFile(const std::string& root) { return root + "/var/run/cdi/hashfoundry.com-custom-device.json"; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// An agent restart and an upgrade (a new agent template: CDI turned on)
// stop the agents with SIGTERM while the pool lives: the device files stay,
// the very same files (a mark written into them survives; a file the next
// agent made anew would not have it). Deleting the pool then removes the
// device files and the CDI spec from every node.
TEST_F(E2eTest, PoolFilesOutliveAgentRestartsAndGoWithThePool) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  for (const auto& n : nodes_) {
    for (int i = 0; i < kDevicesPerNode; ++i) {
      std::ofstream(DeviceFile(n.root, i), std::ios::app) << "mark " << n.name << "\n";
    }
  }
  auto marked = [&] {
    for (const auto& n : nodes_) {
      for (int i = 0; i < kDevicesPerNode; ++i) {
        if (ReadFile(DeviceFile(n.root, i)).find("mark " + n.name) == std::string::npos) {
          ADD_FAILURE() << DeviceFile(n.root, i) << " was removed or rewritten";
          return false;
        }
      }
    }
    return true;
  };

  // A restart: the agent pod deleted, the DaemonSet makes a new one.
  const SimNode& n = nodes_[0];
  const std::string old_uid = StringAt(AgentPod(n.name), {"metadata", "uid"});
  auto k = Kubectl({"delete", "pod", "-n", release_, StringAt(AgentPod(n.name), {"metadata", "name"})});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  ASSERT_TRUE(Eventually(
      [&] {
        Json agent = AgentPod(n.name);
        return !agent.is_null() && StringAt(agent, {"metadata", "uid"}) != old_uid &&
               StringAt(agent, {"status", "phase"}) == "Running";
      },
      seconds(120)))
      << Logs();
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  EXPECT_TRUE(marked());

  // An upgrade: every agent replaced by one with --cdi=true (the canary
  // first, without the default 2 minutes of baking: rollout_test covers it).
  k = Kubectl({"patch", "devicepool", kPool, "--type=merge", "-p",
               R"({"spec":{"cdi":{"enabled":true},"rollout":{"canary":{"bakeTime":"0s"}}}})"});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  ASSERT_TRUE(Eventually(
      [&] {
        for (const auto& node : nodes_) {
          if (!fs::exists(CdiSpecFile(node.root))) return false;
        }
        return true;
      },
      seconds(180)))
      << Logs();
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  EXPECT_TRUE(marked());

  k = Kubectl({"delete", "devicepool", kPool, "--timeout=120s"});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  ASSERT_TRUE(Eventually(
      [&] { return List(kube::resources::Pods(), release_, std::string(api::kPoolLabel) + "=" + kPool).empty(); },
      seconds(60)));
  for (const auto& node : nodes_) {
    SCOPED_TRACE(node.name);
    // The agent removed them before its pod's deletion was confirmed.
    for (int i = 0; i < kDevicesPerNode; ++i) EXPECT_FALSE(fs::exists(DeviceFile(node.root, i)));
    EXPECT_FALSE(fs::exists(CdiSpecFile(node.root)));
    // The pool's directory is gone, or (the hostPath volume's mount point)
    // empty.
    const std::string dir = node.root + "/var/lib/hashfoundry/devices/" + kPool;
    EXPECT_TRUE(!fs::exists(dir) || fs::is_empty(dir)) << dir;
  }
}

}  // namespace
}  // namespace hf::e2e
