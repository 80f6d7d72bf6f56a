// DRA end to end: the sample pool switched to allocationAPI DRA on simulated
// nodes that run the kubelet's own DRA manager and plugin manager
// (sim-kubelet), with the real kube-scheduler allocating claims and the real
// kube-controller-manager making them from templates. The agents publish
// ResourceSlices and prepare claims with CDI; the operator makes the
// DeviceClass, moves the nodes through the managed rollout (not away from
// DRA while claims hold a node's devices) and keeps a deleted pool's agents
// while claims hold its devices.
#include <algorithm>
#include <set>

#include "tests/e2e/e2e_fixture.h"

namespace hf::e2e {
namespace {

const kube::GroupVersionResource kResourceSlices{"resource.k8s.io", "v1", "resourceslices", false};
const kube::GroupVersionResource kResourceClaims{"resource.k8s.io", "v1", "resourceclaims", true};
const kube::GroupVersionResource kDeviceClasses{"resource.k8s.io", "v1", "deviceclasses", false};
constexpr char kDriver[] = "custom-device.devicepool.hashfoundry.com";

class DraTest : public E2eTest {
 protected:
  // The pods with claims go before the pool: the kubelet confirms a pod's
  // deletion only after the driver unprepared its claims, so a deleted
  // pool would keep its agents until then.
  void TearDown() override {
    Kubectl({"delete", "namespace", kSeedNamespace, "--ignore-not-found", "--wait=false"});
    EXPECT_TRUE(Eventually([&] { return Get(kube::resources::Namespaces(), "", kSeedNamespace).is_null(); },
                           seconds(120)))
        << Kubectl({"get", "pods,resourceclaims", "-n", kSeedNamespace, "-o", "wide"}).output;
    E2eTest::TearDown();
  }

  // Moves the sample pool to DRA and waits until every node's agent serves
  // it: the rollout done, a slice per node with every device. The canary
  // still goes first, without the default 2 minutes of baking, which would
  // be most of each test's time (rollout_test covers the bake).
  void SwitchToDra() {
    auto k = Kubectl({"patch", "devicepool", kPool, "--type=merge", "-p",
                      R"({"spec":{"allocationAPI":"DRA","rollout":{"canary":{"bakeTime":"0s"}}}})"});
    ASSERT_EQ(k.exit_code, 0) << k.output;
    ASSERT_TRUE(Eventually(
        [&] {
          for (const auto& n : nodes_) {
            Json s = Get(kResourceSlices, "", std::string(kPool) + "." + n.name);
            if (s.is_null() || At(s, {"spec", "devices"}).size() != kDevicesPerNode) return false;
          }
          return true;
        },
        seconds(300)))
        << Kubectl({"get", "resourceslices", "-o", "yaml"}).output << Logs();
    ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
    ASSERT_FALSE(Get(kDeviceClasses, "", kDriver).is_null());
  }

  void ApplyYaml(const std::string& yaml) {
    const std::string path = work_ + "/" + UniqueName("manifest") + ".yaml";
    std::ofstream(path) << yaml;
    auto k = Kubectl({"apply", "-f", path});
    ASSERT_EQ(k.exit_code, 0) << k.output << "\n" << yaml;
  }

  // The namespace (unless the seed's workloads made it) and the template.
  void CreateNamespace() {
    if (Get(kube::resources::Namespaces(), "", kSeedNamespace).is_null()) {
      auto k = Kubectl({"create", "namespace", kSeedNamespace});
      ASSERT_EQ(k.exit_code, 0) << k.output;
    }
    ApplyYaml(std::string(R"(apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata:
  name: one-device
  namespace: )") + kSeedNamespace + R"(
spec:
  spec:
    devices:
      requests:
      - name: dev
        exactly:
          deviceClassName: )" + kDriver + "\n");
  }

  // A pod with a claim from the template, kept to `node` if given (by a
  // node selector: a pod with spec.nodeName skips the scheduler, which is
  // what allocates claims).
  void ClaimPod(const std::string& name, const std::string& node = "") {
    std::string yaml = std::string(R"(apiVersion: v1
kind: Pod
metadata:
  name: )") + name + R"(
  namespace: )" + kSeedNamespace + R"(
spec:
)" + (node.empty() ? "" : "  nodeSelector:\n    kubernetes.io/hostname: " + node + "\n") +
                       R"(  containers:
  - name: app
    image: busybox:1.36
    command: ["sleep", "3600"]
    resources:
      claims:
      - name: dev
  resourceClaims:
  - name: dev
    resourceClaimTemplateName: one-device
)";
    ApplyYaml(yaml);
  }

  Json Pod(const std::string& name) { return Get(kube::resources::Pods(), kSeedNamespace, name); }

  bool Running(const std::string& name) { return StringAt(Pod(name), {"status", "phase"}) == "Running"; }

  // The container's record by sim-kubelet: what a runtime would have given
  // it (env resolved from the CDI specs the agent wrote).
  Json Record(const std::string& pod) {
    std::string rec = StringAt(Pod(pod), {"metadata", "annotations", kAllocationAnnotation});
    return rec.empty() ? Json() : Json::parse(rec);
  }

  // The claim of a pod (from its status.resourceClaimStatuses).
  Json ClaimOf(const std::string& pod) {
    Json statuses = At(Pod(pod), {"status", "resourceClaimStatuses"});
    if (!statuses.is_array() || statuses.empty()) return Json();
    return Get(kResourceClaims, kSeedNamespace, statuses[0].value("resourceClaimName", ""));
  }

  // node/device of the claim's allocation, "" when not allocated.
  std::string AllocatedDevice(const Json& claim) {
    Json results = At(claim, {"status", "allocation", "devices", "results"});
    if (!results.is_array() || results.size() != 1) return "";
    return results[0].value("pool", "") + "/" + results[0].value("device", "");
  }

  std::string NodeRoot(const std::string& node) {
    for (const auto& n : nodes_) {
      if (n.name == node) return n.root;
    }
    return "";
  }

  Json Checkpoint(const std::string& node) {
    std::ifstream in(NodeRoot(node) + "/var/lib/kubelet/plugins/" + kDriver + "/checkpoint.json");
    if (!in) return Json();
    return Json::parse(in, nullptr, false);
  }

  // The agent pod on `node` serves DRA (as its arguments say).
  bool ServesDra(const Json& agent) {
    const Json args = At(agent, {"spec", "containers", "0", "args"});
    return args.is_array() && std::find(args.begin(), args.end(), Json("--allocation-api=DRA")) != args.end();
  }

  // The pool's condition of `type`: its reason and message.
  std::string ConditionText(const std::string& type) {
    Json conds = At(Get(api::DevicePools(), "", kPool), {"status", "conditions"});
    if (!conds.is_array()) return "";
    for (const auto& c : conds) {
      if (c["type"] == type) return c.value("reason", "") + ": " + c.value("message", "");
    }
    return "";
  }

  std::string CdiSpecPath(const std::string& node, const std::string& claim_uid) {
    return NodeRoot(node) + "/var/run/cdi/k8s." + kDriver + "-claim_" + claim_uid + ".json";
  }
};

// A pool switched under running device-plugin pods: none of them loses its
// device (same pod, no restart, the kubelet's assignment untouched), the
// devices they hold are not offered through DRA until released, and new pods
// get the other devices through claims, each a different one.
TEST_F(DraTest, SwitchingAPoolToDraKeepsRunningPodsAndServesNewOnesByClaims) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  ASSERT_NO_FATAL_FAILURE(ApplySeedWorkloads());
  std::map<std::string, std::string> before;  // seed pod -> uid + allocation record
  ASSERT_TRUE(Eventually(
      [&] {
        before.clear();
        for (const auto& p : List(kube::resources::Pods(), kSeedNamespace, "")) {
          if (StringAt(p, {"status", "phase"}) != "Running") return false;
          std::string rec = StringAt(p, {"metadata", "annotations", kAllocationAnnotation});
          if (rec.empty()) return false;
          before[p["metadata"]["name"]] = StringAt(p, {"metadata", "uid"}) + " " + rec;
        }
        return before.size() == 4;
      },
      seconds(120)))
      << Logs();
  std::set<std::string> held;  // node/device id
  for (const auto& p : List(kube::resources::Pods(), kSeedNamespace, "")) {
    Json rec = Json::parse(StringAt(p, {"metadata", "annotations", kAllocationAnnotation}));
    for (const auto& id : rec["containers"][0]["devices"].value(kResource, std::vector<std::string>{})) {
      held.insert(StringAt(p, {"spec", "nodeName"}) + "/" + id);
    }
  }
  ASSERT_EQ(held.size(), 5u);

  ASSERT_NO_FATAL_FAILURE(SwitchToDra());
  // The held devices carry the device-plugin-allocated taint.
  std::set<std::string> tainted;
  for (const auto& n : nodes_) {
    for (const auto& d : At(Get(kResourceSlices, "", std::string(kPool) + "." + n.name), {"spec", "devices"})) {
      for (const auto& t : d.value("taints", Json::array())) {
        if (t["key"] == "hashfoundry.com/device-plugin-allocated") tainted.insert(n.name + "/" + d["name"].get<std::string>());
      }
    }
  }
  EXPECT_EQ(tainted, held);
  for (const auto& p : List(kube::resources::Pods(), kSeedNamespace, "")) {
    const std::string name = p["metadata"]["name"];
    EXPECT_EQ(StringAt(p, {"metadata", "uid"}) + " " + StringAt(p, {"metadata", "annotations", kAllocationAnnotation}),
              before[name])
        << name << " changed";
    EXPECT_EQ(StringAt(p, {"status", "phase"}), "Running") << name;
  }

  // 12 devices, 5 held: 7 claims get one each, all different and none held;
  // an eighth waits.
  ASSERT_NO_FATAL_FAILURE(CreateNamespace());
  for (int i = 0; i < 8; ++i) ASSERT_NO_FATAL_FAILURE(ClaimPod("claim-" + std::to_string(i)));
  std::set<std::string> given;
  ASSERT_TRUE(Eventually(
      [&] {
        int running = 0;
        for (int i = 0; i < 8; ++i) running += Running("claim-" + std::to_string(i));
        return running == 7;
      },
      seconds(180)))
      << Kubectl({"get", "pods,resourceclaims", "-n", kSeedNamespace, "-o", "wide"}).output << Logs();
  for (int i = 0; i < 8; ++i) {
    const std::string pod = "claim-" + std::to_string(i);
    if (!Running(pod)) {
      EXPECT_EQ(StringAt(Pod(pod), {"status", "phase"}), "Pending");
      continue;
    }
    Json claim = ClaimOf(pod);
    std::string device = AllocatedDevice(claim);
    EXPECT_EQ(device.substr(0, device.find('/')), StringAt(Pod(pod), {"spec", "nodeName"}));
    EXPECT_TRUE(given.insert(device).second) << device << " given twice";
    EXPECT_FALSE(held.contains(device)) << device << " is held by a device-plugin pod";
    // The container got the device through CDI: the env of the claim's spec.
    Json rec = Record(pod);
    ASSERT_FALSE(rec.is_null()) << pod;
    const Json& env = rec["containers"][0]["env"];
    EXPECT_EQ(env.value("HASHFOUNDRY_DEVICE_ID", ""), device.substr(device.find('/') + 1)) << rec.dump(2);
    EXPECT_EQ(env.value("HASHFOUNDRY_DEVICE_COUNT", ""), "1") << rec.dump(2);
  }
  EXPECT_EQ(given.size(), 7u);
  // The pool counts both APIs' allocations.
  EXPECT_TRUE(
      Eventually([&] { return At(Get(api::DevicePools(), "", kPool), {"status", "devices", "allocated"}) == 12; },
                 seconds(90)))
      << Get(api::DevicePools(), "", kPool)["status"].dump(2);

  // A device-plugin pod goes: its devices lose the taint, and the waiting
  // claim gets one of them.
  auto k = Kubectl({"delete", "pod", "-n", kSeedNamespace, "device-test-multi", "--wait=true", "--timeout=60s"});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  EXPECT_TRUE(Eventually(
      [&] {
        int running = 0;
        for (int i = 0; i < 8; ++i) running += Running("claim-" + std::to_string(i));
        return running == 8;
      },
      seconds(120)))
      << Kubectl({"get", "resourceslices", "-o", "yaml"}).output;
}

// Claims made on a DRA pool from the start: prepared once with a CDI spec and
// a checkpoint entry, kept across an agent restart, unprepared when the pod
// goes; a pod that asks for the extended resource is served by DRA; and the
// pool deleted under that pod keeps its agents until the pod is gone.
TEST_F(DraTest, ClaimsSurviveAnAgentRestartAndGoWithTheirPod) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  ASSERT_NO_FATAL_FAILURE(SwitchToDra());
  ASSERT_NO_FATAL_FAILURE(CreateNamespace());
  const SimNode& n = nodes_[0];
  ASSERT_NO_FATAL_FAILURE(ClaimPod("pinned", n.name));
  ASSERT_TRUE(Eventually([&] { return Running("pinned"); }, seconds(120)))
      << Kubectl({"describe", "pod", "-n", kSeedNamespace, "pinned"}).output << Logs();
  Json claim = ClaimOf("pinned");
  const std::string uid = StringAt(claim, {"metadata", "uid"});
  ASSERT_FALSE(uid.empty());
  EXPECT_TRUE(fs::exists(CdiSpecPath(n.name, uid)));
  auto prepared = [&] {
    Json cp = Checkpoint(n.name);
    if (!cp.is_object()) return false;
    for (const auto& c : cp.value("claims", Json::array())) {
      if (c.value("uid", "") == uid) return true;
    }
    return false;
  };
  EXPECT_TRUE(prepared());

  // The agent process dies; its container restarts and reads the checkpoint.
  std::vector<int> pids = AgentPids(n);
  ASSERT_FALSE(pids.empty());
  for (int pid : pids) kill(pid, SIGKILL);
  EXPECT_TRUE(Eventually(
      [&] {
        Json agent = AgentPod(n.name);
        Json statuses = At(agent, {"status", "containerStatuses"});
        return statuses.is_array() && !statuses.empty() && statuses[0].value("restartCount", 0) >= 1 &&
               statuses[0].value("ready", false);
      },
      seconds(120)))
      << Logs();
  EXPECT_TRUE(prepared());
  EXPECT_TRUE(fs::exists(CdiSpecPath(n.name, uid)));
  EXPECT_TRUE(Running("pinned"));

  // The pod goes: the kubelet unprepares, the spec and the entry go.
  auto k = Kubectl({"delete", "pod", "-n", kSeedNamespace, "pinned", "--wait=true", "--timeout=60s"});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  EXPECT_TRUE(Eventually([&] { return !prepared() && !fs::exists(CdiSpecPath(n.name, uid)); }, seconds(60)))
      << Checkpoint(n.name).dump(2) << Logs();

  // A pod written for the device plugin (resources.limits) runs unchanged:
  // the DeviceClass's extendedResourceName lets the scheduler serve it by DRA.
  ApplyYaml(std::string(R"(apiVersion: v1
kind: Pod
metadata:
  name: extended
  namespace: )") + kSeedNamespace + R"(
spec:
  containers:
  - name: app
    image: busybox:1.36
    command: ["sleep", "3600"]
    resources:
      limits:
        hashfoundry.com/custom-device: 1
)");
  EXPECT_TRUE(Eventually([&] { return Running("extended"); }, seconds(120)))
      << Kubectl({"describe", "pod", "-n", kSeedNamespace, "extended"}).output << Logs();
  Json ext = At(Pod("extended"), {"status", "extendedResourceClaimStatus"});
  EXPECT_TRUE(ext.is_object()) << Pod("extended")["status"].dump(2);
  Json rec = Record("extended");
  ASSERT_FALSE(rec.is_null());
  EXPECT_EQ(rec["containers"][0]["env"].value("HASHFOUNDRY_DEVICE_COUNT", ""), "1") << rec.dump(2);

  // The pool is deleted while the pod holds its claim: the DeviceClass goes
  // at once, the agents stay (only they unprepare the claim) and the pool
  // says what it waits for; the pod then goes when deleted, and the pool
  // after it.
  auto del = Kubectl({"delete", "devicepool", kPool, "--wait=false"});
  ASSERT_EQ(del.exit_code, 0) << del.output;
  EXPECT_TRUE(Eventually([&] { return Get(kDeviceClasses, "", kDriver).is_null(); }, seconds(30))) << Logs();
  EXPECT_TRUE(Eventually(
      [&] {
        return ConditionText("Progressing").find("WaitingForClaims: the pool is being deleted; its DeviceClass is "
                                                 "gone, and its agents stay until 1 ResourceClaim holding devices "
                                                 "of driver " + std::string(kDriver)) == 0;
      },
      seconds(30)))
      << ConditionText("Progressing") << Logs();
  EXPECT_FALSE(Get(kube::resources::DaemonSets(), release_, "devicepool-" + std::string(kPool)).is_null());
  for (const auto& node : nodes_) EXPECT_TRUE(ServesDra(AgentPod(node.name))) << node.name << " lost its agent";
  EXPECT_TRUE(Running("extended"));
  k = Kubectl({"delete", "pod", "-n", kSeedNamespace, "extended", "--wait=true", "--timeout=60s"});
  EXPECT_EQ(k.exit_code, 0) << "the pod is stuck: " << k.output << Logs();
  EXPECT_TRUE(Eventually([&] { return Get(api::DevicePools(), "", kPool).is_null(); }, seconds(90)))
      << ConditionText("Progressing") << Logs();
}

// A device that disappears is tainted in its slice and never given to a new
// claim; it comes back when restored. Then the pool goes back to the device
// plugin: the node whose devices claims hold switches only after their pods.
TEST_F(DraTest, ALostDeviceIsNotAllocatedUntilItIsBack) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  ASSERT_NO_FATAL_FAILURE(SwitchToDra());
  const SimNode& n = nodes_[0];
  const std::string device = n.root + "/var/lib/hashfoundry/devices/" + kPool + "/hashfoundry-device-3";
  const std::string aside = work_ + "/hashfoundry-device-3.removed";
  fs::rename(device, aside);
  auto tainted = [&] {
    for (const auto& d : At(Get(kResourceSlices, "", std::string(kPool) + "." + n.name), {"spec", "devices"})) {
      if (d["name"] != "hashfoundry-device-3") continue;
      for (const auto& t : d.value("taints", Json::array())) {
        if (t["key"] == "hashfoundry.com/unhealthy") return true;
      }
    }
    return false;
  };
  ASSERT_TRUE(Eventually(tainted, seconds(60))) << Logs();

  // Four claims on the node: three get the healthy devices, the fourth waits.
  ASSERT_NO_FATAL_FAILURE(CreateNamespace());
  for (int i = 0; i < 4; ++i) ASSERT_NO_FATAL_FAILURE(ClaimPod("on-node-" + std::to_string(i), n.name));
  ASSERT_TRUE(Eventually(
      [&] {
        int running = 0;
        for (int i = 0; i < 4; ++i) running += Running("on-node-" + std::to_string(i));
        return running == 3;
      },
      seconds(120)))
      << Kubectl({"get", "pods,resourceclaims", "-n", kSeedNamespace, "-o", "wide"}).output << Logs();
  for (int i = 0; i < 4; ++i) {
    std::string d = AllocatedDevice(ClaimOf("on-node-" + std::to_string(i)));
    EXPECT_NE(d, n.name + "/hashfoundry-device-3");
  }

  fs::rename(aside, device);
  EXPECT_TRUE(Eventually([&] { return !tainted(); }, seconds(60))) << Logs();
  EXPECT_TRUE(Eventually(
      [&] {
        int running = 0;
        for (int i = 0; i < 4; ++i) running += Running("on-node-" + std::to_string(i));
        return running == 4;
      },
      seconds(120)))
      << Kubectl({"get", "pods,resourceclaims", "-n", kSeedNamespace, "-o", "wide"}).output;
  EXPECT_EQ(AllocatedDevice(ClaimOf("on-node-3")).empty(), false);

  // Back to the device plugin while the four pods hold every device of the
  // node through claims: the other nodes switch, this one keeps its DRA
  // agent (the status says why) and never offers a device through the
  // device plugin API until the pods are gone; then it switches too.
  std::map<std::string, std::string> records;  // pod -> uid + allocation record
  for (int i = 0; i < 4; ++i) {
    const Json pod = Pod("on-node-" + std::to_string(i));
    records[pod["metadata"]["name"]] =
        StringAt(pod, {"metadata", "uid"}) + " " + StringAt(pod, {"metadata", "annotations", kAllocationAnnotation});
  }
  const std::string held_agent = StringAt(AgentPod(n.name), {"metadata", "uid"});
  auto k = Kubectl({"patch", "devicepool", kPool, "--type=merge", "-p",
                    R"({"spec":{"allocationAPI":"DevicePlugin","rollout":{"canary":{"bakeTime":"0s"},"maxUnavailable":2}}})"});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  const std::string why = "node " + n.name + ": 4 ResourceClaims hold devices of driver " + kDriver;
  bool offered = false;  // the held node advertised the resource through the device plugin API
  ASSERT_TRUE(Eventually(
      [&] {
        const std::string a = NodeResource(n.name, "allocatable");
        offered = offered || (!a.empty() && a != "0");
        for (const auto& other : nodes_) {
          if (other.name == n.name) continue;
          const Json agent = AgentPod(other.name);
          if (agent.is_null() || ServesDra(agent) || NodeResource(other.name, "allocatable") != "4") return false;
        }
        return ConditionText("Progressing").find(why) != std::string::npos;
      },
      seconds(120)))
      << ConditionText("Progressing") << Logs();
  EXPECT_FALSE(offered);
  EXPECT_EQ(StringAt(AgentPod(n.name), {"metadata", "uid"}), held_agent) << "the held node's agent was replaced";
  EXPECT_FALSE(Get(kDeviceClasses, "", kDriver).is_null()) << "a DRA agent still serves";
  for (const auto& [name, before] : records) {
    const Json pod = Pod(name);
    EXPECT_EQ(StringAt(pod, {"metadata", "uid"}) + " " + StringAt(pod, {"metadata", "annotations", kAllocationAnnotation}),
              before)
        << name << " changed";
    EXPECT_TRUE(Running(name)) << name;
  }

  // The pods go, and with them the claims: nothing is stuck, and the node
  // switches by itself.
  k = Kubectl({"delete", "pod", "-n", kSeedNamespace, "on-node-0", "on-node-1", "on-node-2", "on-node-3",
               "--wait=true", "--timeout=60s"});
  ASSERT_EQ(k.exit_code, 0) << k.output << Logs();
  EXPECT_TRUE(Eventually(
      [&] {
        const Json agent = AgentPod(n.name);
        return !agent.is_null() && !ServesDra(agent) && NodeResource(n.name, "allocatable") == "4";
      },
      seconds(90)))
      << ConditionText("Progressing") << Logs();
  EXPECT_TRUE(Eventually(
      [&] {
        return StringAt(Get(api::DevicePools(), "", kPool), {"status", "rollout", "phase"}) == "Complete" &&
               Get(kDeviceClasses, "", kDriver).is_null();
      },
      seconds(60)))
      << Get(api::DevicePools(), "", kPool)["status"].dump(2);
}

}  // namespace
}  // namespace hf::e2e
