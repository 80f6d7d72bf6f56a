// E2eTest: the fixture of the e2e and fault suites. The chart installed with
// helm, devicepool-operator as a local process with its ServiceAccount's
// token, and three simulated nodes (a test may ask for fewer: node_count_;
// tests/cluster's sim-kubelet) that run the real kubelet device manager and
// run devicepool-agent as the DaemonSet's pods (any image of it: see
// InstallAgentImage). Every node is labelled
// hashfoundry.com/custom-device=enabled, as the seed labels every node, and
// the pool is config/samples/devicepool.yaml.
//
// Each test starts from nothing (CTest runs each in its own process): nodes,
// release and operator are created in SetUp and removed in TearDown. Waiting
// is bounded polling (Eventually, kubectl wait), never a sleep.
#ifndef HF_TESTS_E2E_E2E_FIXTURE_H_
#define HF_TESTS_E2E_E2E_FIXTURE_H_

#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
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

namespace fs = std::filesystem;
using hf::testing::At;
using hf::testing::ChildProcess;
using hf::testing::ProcessTree;
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

inline std::string Source(const std::string& rel) { return std::string(HF_SOURCE_DIR) + "/" + rel; }

// The binaries under test: this build's, or with HF_BIN_DIR set, NAME in that
// directory (tests/image runs the suite on the image's binaries that way).
inline std::string BinUnderTest(const std::string& name, const char* built) {
  const char* dir = std::getenv("HF_BIN_DIR");
  return dir != nullptr && *dir != '\0' ? std::string(dir) + "/" + name : built;
}
inline std::string AgentBin() { return BinUnderTest("devicepool-agent", HF_AGENT_BIN); }
inline std::string OperatorBin() { return BinUnderTest("devicepool-operator", HF_OPERATOR_BIN); }

inline std::string Tail(const std::string& path, size_t lines = 40) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string l; std::getline(in, l);) all.push_back(l);
  std::ostringstream out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out << all[i] << "\n";
  return out.str();
}

inline std::set<std::string> Split(const std::string& s, char sep) {
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
    fs::create_symlink(AgentBin(), work_ + "/images/devicepool-agent");
    // The binaries the cluster was started with (tests/cluster's build),
    // sim-kubelet among them.
    bin_ = cluster_.Env("HF_CLUSTER_BIN");
    ASSERT_TRUE(fs::exists(bin_ + "/sim-kubelet")) << bin_ << " has no sim-kubelet: the cluster predates it; restart it";

    ClearLeftovers();
    ApplyCrds(Source("crds/"), {"devicepools.hashfoundry.com", "devicepoolnodes.hashfoundry.com"});
    if (HasFatalFailure()) return;
    std::vector<std::string> helm{bin_ + "/helm", "install", release_, Source("charts/hashfoundry-device-operator"),
                                  "--namespace", release_, "--create-namespace", "--set", "crds.install=false", "--set",
                                  "fullnameOverride=" + release_, "--kubeconfig", cluster_.kubeconfig()};
    if (operator_in_pod_) {
      // The chart's Deployment, its pod run by a sim-kubelet from this
      // build's binaries: the image's own directory holds both.
      const std::string agent = AgentExecutable();
      fs::create_symlink(AgentBin(), agent);
      fs::create_symlink(OperatorBin(), fs::path(agent).parent_path() / "devicepool-operator");
      helm.insert(helm.end(), {"--set", std::string("image.tag=") + kImageTag, "--set", "replicaCount=1"});
      helm.insert(helm.end(), extra_helm_args_.begin(), extra_helm_args_.end());
    } else {
      // No operator replicas: the operator runs below as a local process.
      helm.insert(helm.end(), {"--set", "replicaCount=0"});
    }
    auto h = hf::testing::Run(helm);
    ASSERT_EQ(h.exit_code, 0) << h.output;

    for (int i = 1; i <= node_count_; ++i) StartNode(release_ + "-node-" + std::to_string(i));
    ASSERT_TRUE(Eventually([&] { return ReadyNodes() == node_count_; }, seconds(60))) << Logs();

    if (!operator_in_pod_) {
      ASSERT_FALSE(StartOperator().empty());
    }
    auto k = Kubectl({"apply", "-f", Source("config/samples/devicepool.yaml")});
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

  // Applies the CRDs in `path` server-side and waits until `names` are
  // Established.
  void ApplyCrds(const std::string& path, const std::vector<std::string>& names) {
    auto k = Kubectl({"apply", "--server-side", "-f", path});
    ASSERT_EQ(k.exit_code, 0) << k.output;
    std::vector<std::string> wait{"wait", "--for=condition=Established", "--timeout=30s"};
    for (const auto& n : names) wait.push_back("crd/" + n);
    // kubectl wait fails at once on a CRD that has no status yet.
    ASSERT_TRUE(Eventually(
        [&] {
          k = Kubectl(wait);
          return k.exit_code == 0;
        },
        seconds(60), std::chrono::milliseconds(200)))
        << k.output;
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

  // devicepool-operator as a local process under the chart's
  // ServiceAccount; its log (appended to across restarts), or "" on failure.
  std::string StartOperator() {
    std::string sa = work_ + "/operator.kubeconfig";
    if (!fs::exists(sa)) {
      auto k = Tool({"sa-kubeconfig", cluster_.dir(), "--namespace", release_, "--serviceaccount", release_, "--out", sa});
      EXPECT_EQ(k.exit_code, 0) << k.output;
      if (k.exit_code != 0) return "";
    }
    op_log_ = work_ + "/operator.log";
    op_ = ChildProcess::Start({OperatorBin(), "--kubeconfig=" + sa, "--namespace=" + release_,
                               "--agent-cluster-role=" + release_ + "-agent", "--http-address=127.0.0.1:0",
                               "--log-format=text", "--identity=" + release_,
                               std::string("--leader-elect=") + (leader_elect_ ? "true" : "false")},
                              op_log_);
    return op_ ? op_log_ : "";
  }

  // Gives `image` its own agent on every node: sim-kubelet runs
  // images/by-image/<image with '/', ':', '@' as '_'>/devicepool-agent for
  // it (tests/cluster/README.md), here tests/e2e/images/<script>, a stand-in
  // for a broken build that runs the real agent, images/devicepool-agent.
  void InstallAgentImage(const std::string& image, const std::string& script) {
    const std::string bin = AgentImageBin(image);
    fs::copy_file(Source("tests/e2e/images/" + script), bin, fs::copy_options::overwrite_existing);
    fs::permissions(bin, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec);
  }

  // `image` runs the real agent: a good new version.
  void InstallAgentImage(const std::string& image) {
    const std::string bin = AgentImageBin(image);
    fs::remove(bin);
    fs::create_symlink(AgentBin(), bin);
  }

  // The image's executable, its directory created.
  std::string AgentImageBin(const std::string& image) {
    std::string dir = image;
    for (char& c : dir) {
      if (c == '/' || c == ':' || c == '@') c = '_';
    }
    dir = work_ + "/images/by-image/" + dir;
    fs::create_directories(dir);
    return dir + "/devicepool-agent";
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

  // The seed's namespace and test workloads (single, multi, a Deployment).
  void ApplySeedWorkloads() {
    auto k = Kubectl({"apply", "-f", Source("tests/e2e/testdata/namespace.yaml")});
    ASSERT_EQ(k.exit_code, 0) << k.output;
    k = Kubectl({"apply", "-f", Source("tests/e2e/testdata/test-device-usage.yaml")});
    ASSERT_EQ(k.exit_code, 0) << k.output;
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
    if (operator_in_pod_) {
      // The operator pod's container logs, on whichever node runs it.
      std::error_code ec;
      for (auto it = fs::recursive_directory_iterator(work_ + "/nodes", ec); !ec && it != fs::end(it);
           it.increment(ec)) {
        const fs::path& p = it->path();
        if (p.extension() == ".log" && p.parent_path().filename() == "operator") {
          out << "--- " << p.string() << " ---\n" << Tail(p.string(), 25);
        }
      }
    }
    for (const auto& log : extra_logs_) out << "--- " << log << " ---\n" << Tail(log, 25);
    return out.str();
  }

  // What the pool's agent pods run: the chart image's agent when the
  // operator runs in a pod (pools that name no image get the operator's),
  // else the shared images/devicepool-agent.
  std::string AgentExecutable() {
    return operator_in_pod_ ? AgentImageBin(std::string("hashfoundry/device-operator:") + kImageTag)
                            : work_ + "/images/devicepool-agent";
  }

  // The nodes' agent "image" as the real agent with a flag it refuses
  // (broken) or the real agent (not), and the agent pod on `node` replaced
  // so that it runs it.
  void SetAgentImageBroken(bool broken, const std::string& node) {
    const std::string image = AgentExecutable();
    fs::remove(image);
    if (broken) {
      std::ofstream(image) << "#!/bin/sh\nexec " << AgentBin() << " \"$@\" --health-interval=0s\n";
      fs::permissions(image, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
    } else {
      fs::create_symlink(AgentBin(), image);
    }
    auto k = Kubectl({"delete", "pod", "-n", release_, StringAt(AgentPod(node), {"metadata", "name"})});
    ASSERT_EQ(k.exit_code, 0) << k.output;
  }

  // SIGSTOP or SIGCONT a node's kubelet and every process it started.
  void SignalNodeTree(const SimNode& n, int sig) {
    for (int pid : ProcessTree(n.proc->pid())) kill(pid, sig);
  }

  // The pids of the pool's agent processes on a node (under its kubelet).
  std::vector<int> AgentPids(const SimNode& n) {
    std::vector<int> out;
    for (int pid : ProcessTree(n.proc->pid())) {
      std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
      std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      std::string want = std::string("--pool=") + kPool;
      want.push_back('\0');
      if (cmdline.find(want) != std::string::npos) out.push_back(pid);
    }
    return out;
  }

  // Simulated nodes SetUp starts; a test's constructor may ask for fewer.
  int node_count_ = kNodes;
  // Run the operator with --leader-elect=true, as the chart does.
  bool leader_elect_ = false;
  // Run the operator as the chart's Deployment (one replica, image tag
  // kImageTag) on the simulated nodes instead of as a local process, with
  // these extra `helm install` arguments.
  bool operator_in_pod_ = false;
  std::vector<std::string> extra_helm_args_;
  // More logs for Logs() to show when a test fails.
  std::vector<std::string> extra_logs_;
  static constexpr char kImageTag[] = "e2e";
  LocalCluster& cluster_ = LocalCluster::Shared();
  std::unique_ptr<kube::Client> client_;
  std::string release_, work_, bin_, op_log_;
  std::vector<SimNode> nodes_;
  std::unique_ptr<ChildProcess> op_;
};

}  // namespace hf::e2e

#endif  // HF_TESTS_E2E_E2E_FIXTURE_H_
