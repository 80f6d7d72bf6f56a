// End to end: the chart installed with helm, devicepool-operator as a local
// process with its ServiceAccount's token, and three simulated nodes
// (tests/cluster's sim-kubelet) that run the real kubelet device manager and
// run devicepool-agent as the DaemonSet's pods. Every node is labelled
// hashfoundry.com/custom-device=enabled, as the seed labels every node, and
// the pool is config/samples/devicepool.yaml.
//
// Each test starts from nothing (CTest runs each in its own process): nodes,
// release and operator are created in SetUp and removed in TearDown. Waiting
// is bounded polling (Eventually, kubectl wait), never a sleep.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "api/names.h"
#include "kube/rest/client.h"
#include "tests/testing/cluster.h"

namespace hf::e2e {
namespace {

namespace fs = std::filesystem;
using hf::testing::At;
using hf::testing::ChildProcess;
using hf::testing::Eventually;
using hf::testing::LocalCluster;
using hf::testing::StringAt;
using hf::testing::UniqueName;
using kube::Json;
using std::chrono::seconds;

constexpr char kPool[] = "custom-device";
constexpr char kResource[] = "hashfoundry.com/custom-device";
constexpr char kSeedNamespace[] = "device-plugin-system";
constexpr char kAllocationAnnotation[] = "hashfoundry.com/allocation";
// The pool's cluster-scoped binding (operator/desired.cc BindingName).
constexpr char kBinding[] = "hashfoundry-devicepool-custom-device";
constexpr int kNodes = 3;
constexpr int kDevicesPerNode = 4;  // the sample pool's simulated.count

std::string Source(const std::string& rel) { return std::string(HF_SOURCE_DIR) + "/" + rel; }

std::string Tail(const std::string& path, size_t lines = 40) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string l; std::getline(in, l);) all.push_back(l);
  std::ostringstream out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out << all[i] << "\n";
  return out.str();
}

std::set<std::string> Split(const std::string& s, char sep) {
  std::set<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, sep);) out.insert(part);
  return out;
}

class E2eTest : public ::testing::Test {
 protected:
  struct SimNode {
    std::string name, root, log;
    std::unique_ptr<ChildProcess> proc;
  };

  void SetUp() override {
    ASSERT_EQ(geteuid(), 0) << "sim-kubelet needs root: it mounts in private mount namespaces";
    client_ = cluster_.AdminClient();
    release_ = UniqueName("e2e");
    work_ = cluster_.dir() + "/" + release_;
    fs::create_directories(work_ + "/images");
    // The "image": the container command /usr/bin/devicepool-agent runs this.
    fs::create_symlink(HF_AGENT_BIN, work_ + "/images/devicepool-agent");
    // The binaries the cluster was started with (tests/cluster's build),
    // sim-kubelet among them.
    bin_ = cluster_.Env("HF_CLUSTER_BIN");
    ASSERT_TRUE(fs::exists(bin_ + "/sim-kubelet")) << bin_ << " has no sim-kubelet: the cluster predates it; restart it";

    ClearLeftovers();
    auto k = Kubectl({"apply", "--server-side", "-f", Source("crds/")});
    ASSERT_EQ(k.exit_code, 0) << k.output;
    // kubectl wait fails at once on a CRD that has no status yet.
    ASSERT_TRUE(Eventually(
        [&] {
          k = Kubectl({"wait", "--for=condition=Established", "crd/devicepools.hashfoundry.com",
                       "crd/devicepoolnodes.hashfoundry.com", "--timeout=30s"});
          return k.exit_code == 0;
        },
        seconds(60), std::chrono::milliseconds(200)))
        << k.output;
    // No operator replicas: the operator runs below as a local process.
    auto h = hf::testing::Run({bin_ + "/helm", "install", release_, Source("charts/hashfoundry-device-operator"),
                               "--namespace", release_, "--create-namespace", "--set", "crds.install=false", "--set",
                               "fullnameOverride=" + release_, "--set", "replicaCount=0", "--kubeconfig",
                               cluster_.kubeconfig()});
    ASSERT_EQ(h.exit_code, 0) << h.output;

    for (int i = 1; i <= kNodes; ++i) StartNode(release_ + "-node-" + std::to_string(i));
    ASSERT_TRUE(Eventually([&] { return ReadyNodes() == kNodes; }, seconds(60))) << Logs();

    std::string sa = work_ + "/operator.kubeconfig";
    k = Tool({"sa-kubeconfig", cluster_.dir(), "--namespace", release_, "--serviceaccount", release_, "--out", sa});
    ASSERT_EQ(k.exit_code, 0) << k.output;
    op_log_ = work_ + "/operator.log";
    op_ = ChildProcess::Start({HF_OPERATOR_BIN, "--kubeconfig=" + sa, "--namespace=" + release_,
                               "--agent-cluster-role=" + release_ + "-agent", "--http-address=127.0.0.1:0",
                               "--log-format=text", "--identity=" + release_},
                              op_log_);
    ASSERT_NE(op_, nullptr);
    k = Kubectl({"apply", "-f", Source("config/samples/devicepool.yaml")});
    ASSERT_EQ(k.exit_code, 0) << k.output;
  }

  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "%s", Logs().c_str());
    // The pool first, while the operator runs to release its finalizer; the
    // seed's namespace while the nodes run to confirm its pods' deletion.
    Kubectl({"delete", "devicepool", kPool, "--ignore-not-found", "--wait=false"});
    Kubectl({"delete", "namespace", kSeedNamespace, "--ignore-not-found", "--wait=false"});
    EXPECT_TRUE(Eventually([&] { return Get(api::DevicePools(), "", kPool).is_null(); }, seconds(60)));
    // The garbage collector would remove the pool's ClusterRoleBinding, but
    // only once it watches DevicePools, which on a fresh cluster takes up to
    // its 30 s discovery resync. The next test's pool would meet it with this
    // release's roleRef, which is immutable, so it goes now.
    (void)client_->Delete(kube::resources::ClusterRoleBindings(), "", kBinding);
    EXPECT_TRUE(Eventually([&] { return Get(kube::resources::ClusterRoleBindings(), "", kBinding).is_null(); },
                           seconds(60)));
    EXPECT_TRUE(Eventually([&] { return Get(kube::resources::Namespaces(), "", kSeedNamespace).is_null(); },
                           seconds(120)));
    if (op_) {
      op_->Signal(SIGTERM);
      EXPECT_EQ(op_->Wait(), 0) << "operator did not stop cleanly:\n" << Tail(op_log_);
    }
    for (auto& n : nodes_) {
      if (!n.proc) continue;
      n.proc->Signal(SIGTERM);
      EXPECT_EQ(n.proc->Wait(seconds(60)), 0) << n.name << " did not stop cleanly:\n" << Tail(n.log);
    }
    hf::testing::Run({bin_ + "/helm", "uninstall", release_, "--namespace", release_, "--kubeconfig",
                      cluster_.kubeconfig()});
    (void)client_->Delete(kube::resources::Namespaces(), "", release_);
    // A stopped sim-kubelet leaves its Node behind, as a kubelet does.
    for (const auto& n : nodes_) (void)client_->Delete(kube::resources::Nodes(), "", n.name);
    // Node roots and logs stay for a post-mortem only. (No mounts live
    // outside the nodes' private namespaces, so this is plain files.)
    if (!HasFailure()) fs::remove_all(work_);
  }

  // An earlier run that died may have left the pool (with a finalizer no
  // operator will release) or the seed's namespace behind.
  void ClearLeftovers() {
    if (!Get(api::DevicePools(), "", kPool).is_null()) {
      (void)client_->Patch(api::DevicePools(), "", kPool, kube::PatchType::kMerge,
                           R"({"metadata":{"finalizers":null}})");
      (void)client_->Delete(api::DevicePools(), "", kPool);
    }
    (void)client_->Delete(kube::resources::Namespaces(), "", kSeedNamespace);
    (void)client_->Delete(kube::resources::ClusterRoleBindings(), "", kBinding);
    ASSERT_TRUE(Eventually(
        [&] {
          return Get(api::DevicePools(), "", kPool).is_null() &&
                 Get(kube::resources::Namespaces(), "", kSeedNamespace).is_null() &&
                 Get(kube::resources::ClusterRoleBindings(), "", kBinding).is_null();
        },
        seconds(120)))
        << "leftovers of an earlier run do not go away";
  }

  void StartNode(const std::string& name) {
    SimNode n{name, work_ + "/nodes/" + name, work_ + "/" + name + ".log", nullptr};
    std::string kubeconfig = work_ + "/" + name + ".kubeconfig";
    auto r = Tool({"node-kubeconfig", cluster_.dir(), name, "--out", kubeconfig});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    n.proc = ChildProcess::Start(
        {bin_ + "/sim-kubelet", "--node-name=" + name, "--root=" + n.root, "--kubeconfig=" + kubeconfig,
         "--recorder-kubeconfig=" + cluster_.kubeconfig(), "--node-labels=hashfoundry.com/custom-device=enabled",
         "--image-bin-dir=" + work_ + "/images", "--max-probe-period=1s", "--crash-backoff=1s", "--v=2"},
        n.log);
    ASSERT_NE(n.proc, nullptr);
    nodes_.push_back(std::move(n));
  }

  // The cluster tool of the same build, run directly: bin/cluster would
  // first rebuild if tests/cluster's sources changed since the cluster started.
  hf::testing::CommandResult Tool(const std::vector<std::string>& args) {
    std::vector<std::string> argv{bin_ + "/cluster"};
    argv.insert(argv.end(), args.begin(), args.end());
    return hf::testing::Run(argv);
  }

  hf::testing::CommandResult Kubectl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{bin_ + "/kubectl", "--kubeconfig", cluster_.kubeconfig()};
    argv.insert(argv.end(), args.begin(), args.end());
    return hf::testing::Run(argv);
  }

  Json Get(const kube::GroupVersionResource& gvr, const std::string& ns, const std::string& name) {
    auto r = client_->Get(gvr, ns, name);
    return r.ok() ? *r : Json();
  }

  std::vector<Json> List(const kube::GroupVersionResource& gvr, const std::string& ns, const std::string& selector) {
    kube::ListOptions lo;
    lo.label_selector = selector;
    auto page = client_->List(gvr, ns, lo);
    return page.ok() ? page->items : std::vector<Json>{};
  }

  int ReadyNodes() {
    int ready = 0;
    for (const auto& n : nodes_) {
      Json conds = At(Get(kube::resources::Nodes(), "", n.name), {"status", "conditions"});
      if (!conds.is_array()) continue;
      for (const auto& c : conds) {
        if (c["type"] == "Ready" && c["status"] == "True") ++ready;
      }
    }
    return ready;
  }

  // The node's capacity or allocatable of the pool's resource; "" if absent.
  std::string NodeResource(const std::string& node, const char* which) {
    return StringAt(Get(kube::resources::Nodes(), "", node), {"status", which, kResource});
  }

  std::string Condition(const std::string& type) {
    Json conds = At(Get(api::DevicePools(), "", kPool), {"status", "conditions"});
    if (!conds.is_array()) return "";
    for (const auto& c : conds) {
      if (c["type"] == type) return c["status"];
    }
    return "";
  }

  hf::testing::CommandResult WaitPoolReady() {
    return Kubectl({"wait", "--for=condition=Ready", std::string("devicepool/") + kPool, "--timeout=180s"});
  }

  // The DaemonSet's agent pod on a node; null while there is none.
  Json AgentPod(const std::string& node) {
    for (const auto& p : List(kube::resources::Pods(), release_, std::string(api::kPoolLabel) + "=" + kPool)) {
      if (StringAt(p, {"spec", "nodeName"}) == node && At(p, {"metadata", "deletionTimestamp"}).is_null()) return p;
    }
    return Json();
  }

  std::string Logs() {
    std::ostringstream out;
    for (const auto& n : nodes_) out << "--- " << n.log << " ---\n" << Tail(n.log, 25);
    if (!op_log_.empty()) out << "--- " << op_log_ << " ---\n" << Tail(op_log_, 25);
    return out.str();
  }

  LocalCluster& cluster_ = LocalCluster::Shared();
  std::unique_ptr<kube::Client> client_;
  std::string release_, work_, bin_, op_log_;
  std::vector<SimNode> nodes_;
  std::unique_ptr<ChildProcess> op_;
};

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
  auto k = Kubectl({"apply", "-f", Source("tests/e2e/testdata/namespace.yaml")});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  k = Kubectl({"apply", "-f", Source("tests/e2e/testdata/test-device-usage.yaml")});
  ASSERT_EQ(k.exit_code, 0) << k.output;

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
  k = Kubectl({"wait", "--for=condition=Ready", "pod", "--all", "-n", kSeedNamespace, "--timeout=60s"});
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
  auto k = Kubectl({"apply", "-f", Source("tests/e2e/testdata/namespace.yaml")});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  k = Kubectl({"apply", "-f", Source("tests/e2e/testdata/test-device-usage.yaml")});
  ASSERT_EQ(k.exit_code, 0) << k.output;
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

  // An upgrade: every agent replaced by one with --cdi=true.
  k = Kubectl({"patch", "devicepool", kPool, "--type=merge", "-p", R"({"spec":{"cdi":{"enabled":true}}})"});
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
