// devicepool-operator against a real API server with RBAC on. The chart is
// installed with helm, and the operator runs as a separate process with a
// token for the chart's ServiceAccount, so every request it makes is checked
// against the chart's own roles.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include "api/names.h"
#include "kube/rest/client.h"
#include "operator/desired.h"
#include "tests/testing/cluster.h"

namespace hf::controller {
namespace {

using hf::testing::At;
using hf::testing::ChildProcess;
using hf::testing::Eventually;
using hf::testing::IntAt;
using hf::testing::LocalCluster;
using hf::testing::UniqueName;
using kube::Json;

class OperatorIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ns_ = UniqueName("hf-op");
    release_ = UniqueName("hfop");
    client_ = cluster_.AdminClient();
    auto k = cluster_.Kubectl({"apply", "--server-side", "-f", std::string(HF_SOURCE_DIR) + "/crds/"});
    ASSERT_EQ(k.exit_code, 0) << k.output;
    k = cluster_.Kubectl({"wait", "--for=condition=Established", "crd/devicepools.hashfoundry.com",
                          "crd/devicepoolnodes.hashfoundry.com", "--timeout=60s"});
    ASSERT_EQ(k.exit_code, 0) << k.output;
    auto h = hf::testing::Run({cluster_.Env("HF_CLUSTER_BIN") + "/helm", "install", release_,
                               std::string(HF_SOURCE_DIR) + "/charts/hashfoundry-device-operator", "--namespace", ns_,
                               "--create-namespace", "--set", "crds.install=false", "--set",
                               "fullnameOverride=" + release_, "--kubeconfig", cluster_.kubeconfig()});
    ASSERT_EQ(h.exit_code, 0) << h.output;
    sa_kubeconfig_ = cluster_.ServiceAccountKubeconfig(ns_, release_);
    StartOperator();
  }

  void TearDown() override {
    // Pools go first, while this test's operator still runs to release their
    // finalizers; otherwise the next test's operator would inherit them.
    for (const auto& p : pools_) (void)client_->Delete(api::DevicePools(), "", p);
    for (const auto& p : pools_) {
      EXPECT_TRUE(Eventually([&] { return Get(api::DevicePools(), "", p).is_null(); })) << "pool " << p << " stuck";
    }
    if (op_) {
      op_->Signal(SIGTERM);
      EXPECT_EQ(op_->Wait(), 0) << "operator did not stop cleanly:\n" << op_->Log();
      if (HasFailure()) std::fprintf(stderr, "operator log:\n%s\n", op_->Log().c_str());
    }
    for (const auto& n : nodes_) (void)client_->Delete(kube::resources::Nodes(), "", n);
    hf::testing::Run({cluster_.Env("HF_CLUSTER_BIN") + "/helm", "uninstall", release_, "--namespace", ns_,
                      "--kubeconfig", cluster_.kubeconfig()});
    (void)client_->Delete(kube::resources::Namespaces(), "", ns_);
  }

  void StartOperator() {
    op_ = ChildProcess::Start({HF_OPERATOR_BIN, "--kubeconfig=" + sa_kubeconfig_, "--namespace=" + ns_,
                               "--agent-cluster-role=" + release_ + "-agent", "--http-address=127.0.0.1:0",
                               "--log-level=debug", "--identity=" + release_},
                              cluster_.dir() + "/" + release_ + ".log");
    ASSERT_NE(op_, nullptr);
  }

  std::string Node(const std::map<std::string, std::string>& labels) {
    std::string name = UniqueName("node");
    Json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}, {"labels", labels}}}};
    EXPECT_TRUE(client_->Create(kube::resources::Nodes(), "", node).ok());
    nodes_.push_back(name);
    return name;
  }

  Json Pool(const std::string& name, const std::string& resource, const std::map<std::string, std::string>& match) {
    return {{"apiVersion", "hashfoundry.com/v1alpha1"},
            {"kind", "DevicePool"},
            {"metadata", {{"name", name}}},
            {"spec",
             {{"resourceName", resource},
              {"nodeSelector", {{"matchLabels", match}}},
              {"discovery", {{"simulated", {{"count", 2}}}}}}}};
  }

  std::string CreatePool(const Json& pool) {
    auto r = client_->Create(api::DevicePools(), "", pool);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    pools_.push_back(pool["metadata"]["name"]);
    return pool["metadata"]["name"];
  }

  std::set<std::string> LabelledNodes(const std::string& pool) {
    std::set<std::string> out;
    kube::ListOptions lo;
    lo.label_selector = api::NodeSelectionLabel(pool) + "=enabled";
    lo.metadata_only = true;
    auto page = client_->List(kube::resources::Nodes(), "", lo);
    if (!page.ok()) return out;
    for (const auto& n : page->items) out.insert(n["metadata"]["name"]);
    return out;
  }

  Json Get(const kube::GroupVersionResource& gvr, const std::string& ns, const std::string& name) {
    auto r = client_->Get(gvr, ns, name);
    return r.ok() ? *r : Json();
  }

  std::string Condition(const std::string& pool, const std::string& type, std::string* message = nullptr) {
    Json p = Get(api::DevicePools(), "", pool);
    Json conds = At(p, {"status", "conditions"});
    if (!conds.is_array()) return "";
    for (const auto& c : conds) {
      if (c["type"] == type) {
        if (message != nullptr) *message = c.value("message", "");
        return c["status"];
      }
    }
    return "";
  }

  LocalCluster& cluster_ = LocalCluster::Shared();
  std::unique_ptr<kube::Client> client_;
  std::unique_ptr<ChildProcess> op_;
  std::string ns_, release_, sa_kubeconfig_;
  std::vector<std::string> pools_, nodes_;
};

TEST_F(OperatorIntegrationTest, CreatesEveryChildOwnedByThePool) {
  std::string tag = UniqueName("t");
  std::string a = Node({{"hf-test", tag}});
  std::string b = Node({{"hf-test", tag}});
  Node({{"hf-test", "other"}});
  std::string pool = CreatePool(Pool(UniqueName("pool"), "hashfoundry.com/" + tag, {{"hf-test", tag}}));
  const std::string child = ChildName(pool);

  ASSERT_TRUE(Eventually([&] { return LabelledNodes(pool) == std::set<std::string>{a, b}; }));
  ASSERT_TRUE(Eventually([&] { return !Get(kube::resources::DaemonSets(), ns_, child).is_null(); }));
  Json uid = Get(api::DevicePools(), "", pool)["metadata"]["uid"];
  struct Want {
    kube::GroupVersionResource gvr;
    std::string ns, name;
  };
  for (const Want& w : {Want{kube::resources::DaemonSets(), ns_, child}, Want{kube::resources::ServiceAccounts(), ns_, child},
                        Want{kube::resources::Services(), ns_, child},
                        Want{kube::resources::ClusterRoleBindings(), "", BindingName(pool)}}) {
    SCOPED_TRACE(w.gvr.resource);
    Json obj;
    ASSERT_TRUE(Eventually([&] { return !(obj = Get(w.gvr, w.ns, w.name)).is_null(); }));
    const Json& ref = obj["metadata"]["ownerReferences"][0];
    EXPECT_EQ(ref["uid"], uid);
    EXPECT_EQ(ref["kind"], "DevicePool");
    EXPECT_EQ(ref["controller"], true);
    EXPECT_EQ(obj["metadata"]["labels"]["hashfoundry.com/pool"], pool);
  }
  Json ds = Get(kube::resources::DaemonSets(), ns_, child);
  EXPECT_EQ(ds["spec"]["template"]["spec"]["nodeSelector"][api::NodeSelectionLabel(pool)], "enabled");
  Json crb = Get(kube::resources::ClusterRoleBindings(), "", BindingName(pool));
  EXPECT_EQ(crb["roleRef"]["name"], release_ + "-agent");

  // Status: observedGeneration, counts and a Ready condition with a reason.
  ASSERT_TRUE(Eventually([&] {
    Json p = Get(api::DevicePools(), "", pool);
    return IntAt(p, {"status", "observedGeneration"}) == 1 && IntAt(p, {"status", "nodes", "labelled"}) == 2;
  }));
  std::string msg;
  EXPECT_EQ(Condition(pool, "Ready", &msg), "False");  // no kubelets run the agents here
  EXPECT_NE(msg.find("0/2 agents ready"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no agent pod runs on the node"), std::string::npos) << msg;
  // True or False depending on whether the monitoring CRDs are installed.
  EXPECT_NE(Condition(pool, "MonitoringAvailable"), "");
  auto ev = client_->Raw("GET", "/apis/events.k8s.io/v1/namespaces/default/events?fieldSelector=regarding.name%3D" + pool);
  ASSERT_TRUE(ev.ok());
  EXPECT_FALSE((*ev)["items"].empty()) << "no Events recorded on the pool";
}

TEST_F(OperatorIntegrationTest, LabelsFollowTheNodeSelector) {
  std::string tag = UniqueName("t");
  std::string a = Node({{"hf-test", tag}, {"zone", "a"}});
  std::string b = Node({{"hf-test", tag}, {"zone", "b"}});
  std::string pool = CreatePool(Pool(UniqueName("pool"), "hashfoundry.com/" + tag, {{"hf-test", tag}, {"zone", "a"}}));
  ASSERT_TRUE(Eventually([&] { return LabelledNodes(pool) == std::set<std::string>{a}; }));

  Json patch = {{"spec", {{"nodeSelector", {{"matchLabels", {{"hf-test", tag}, {"zone", "b"}}}}}}}};
  ASSERT_TRUE(client_->Patch(api::DevicePools(), "", pool, kube::PatchType::kMerge, patch.dump()).ok());
  EXPECT_TRUE(Eventually([&] { return LabelledNodes(pool) == std::set<std::string>{b}; }));

  // A node gaining the matching label joins without touching the pool.
  Json relabel = {{"metadata", {{"labels", {{"zone", "b"}}}}}};
  ASSERT_TRUE(client_->Patch(kube::resources::Nodes(), "", a, kube::PatchType::kMerge, relabel.dump()).ok());
  EXPECT_TRUE(Eventually([&] { return LabelledNodes(pool) == std::set<std::string>{a, b}; }));
}

TEST_F(OperatorIntegrationTest, DeletingThePoolRemovesLabelsAndChildren) {
  std::string tag = UniqueName("t");
  std::string a = Node({{"hf-test", tag}});
  std::string pool = CreatePool(Pool(UniqueName("pool"), "hashfoundry.com/" + tag, {{"hf-test", tag}}));
  const std::string child = ChildName(pool);
  ASSERT_TRUE(Eventually([&] { return !Get(kube::resources::Services(), ns_, child).is_null(); }));
  ASSERT_TRUE(Eventually([&] { return LabelledNodes(pool).size() == 1; }));
  EXPECT_TRUE(Get(api::DevicePools(), "", pool)["metadata"]["finalizers"].dump().find("hashfoundry.com/node-labels") !=
              std::string::npos);

  ASSERT_TRUE(client_->Delete(api::DevicePools(), "", pool).ok());
  EXPECT_TRUE(Eventually([&] { return Get(api::DevicePools(), "", pool).is_null(); }));
  EXPECT_TRUE(LabelledNodes(pool).empty());
  for (const auto& gvr : {kube::resources::DaemonSets(), kube::resources::ServiceAccounts(), kube::resources::Services()}) {
    EXPECT_TRUE(Eventually([&] { return Get(gvr, ns_, child).is_null(); })) << gvr.resource << " not collected";
  }
  EXPECT_TRUE(Eventually(
      [&] { return Get(kube::resources::ClusterRoleBindings(), "", BindingName(pool)).is_null(); }));
}

TEST_F(OperatorIntegrationTest, OlderPoolKeepsAContestedNode) {
  std::string tag = UniqueName("t");
  std::string shared = Node({{"hf-test", tag}, {"role", "both"}});
  std::string only_new = Node({{"hf-test", tag}, {"role", "new"}});
  const std::string resource = "hashfoundry.com/" + tag;
  std::string older = CreatePool(Pool(UniqueName("older"), resource, {{"hf-test", tag}, {"role", "both"}}));
  ASSERT_TRUE(Eventually([&] { return LabelledNodes(older) == std::set<std::string>{shared}; }));

  Json newer_pool = Pool(UniqueName("newer"), resource, {{"hf-test", tag}});
  std::string newer = CreatePool(newer_pool);
  std::string msg;
  ASSERT_TRUE(Eventually([&] { return Condition(newer, "Conflict", &msg) == "True"; }));
  EXPECT_NE(msg.find(shared), std::string::npos) << msg;
  EXPECT_TRUE(Eventually([&] { return LabelledNodes(newer) == std::set<std::string>{only_new}; }));
  EXPECT_EQ(LabelledNodes(older), std::set<std::string>{shared});
  EXPECT_EQ(Condition(older, "Conflict"), "False");

  // The older pool leaves: the node passes to the newer one.
  ASSERT_TRUE(client_->Delete(api::DevicePools(), "", older).ok());
  EXPECT_TRUE(Eventually([&] { return LabelledNodes(newer) == std::set<std::string>{shared, only_new}; }));
  EXPECT_TRUE(Eventually([&] { return Condition(newer, "Conflict") == "False"; }));
}

TEST_F(OperatorIntegrationTest, ReportsOfGoneNodesAreRemoved) {
  std::string tag = UniqueName("t");
  std::string a = Node({{"hf-test", tag}});
  std::string b = Node({{"hf-test", tag}});
  std::string pool = CreatePool(Pool(UniqueName("pool"), "hashfoundry.com/" + tag, {{"hf-test", tag}}));
  ASSERT_TRUE(Eventually([&] { return LabelledNodes(pool).size() == 2; }));
  // What the agents on a and b would have written.
  for (const auto& n : {a, b}) {
    Json report = {{"apiVersion", "hashfoundry.com/v1alpha1"},
                   {"kind", "DevicePoolNode"},
                   {"metadata", {{"name", pool + "." + n}, {"labels", {{"hashfoundry.com/pool", pool}, {"hashfoundry.com/node", n}}}}},
                   {"spec", {{"pool", pool}, {"node", n}}}};
    auto r = client_->Create(api::DevicePoolNodes(), "", report);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  ASSERT_TRUE(client_->Delete(kube::resources::Nodes(), "", b).ok());
  EXPECT_TRUE(Eventually([&] { return Get(api::DevicePoolNodes(), "", pool + "." + b).is_null(); }));
  EXPECT_FALSE(Get(api::DevicePoolNodes(), "", pool + "." + a).is_null());
  (void)client_->Delete(api::DevicePoolNodes(), "", pool + "." + a);
}

TEST_F(OperatorIntegrationTest, HandEditsOfTheDaemonSetAreReverted) {
  std::string tag = UniqueName("t");
  Node({{"hf-test", tag}});
  std::string pool = CreatePool(Pool(UniqueName("pool"), "hashfoundry.com/" + tag, {{"hf-test", tag}}));
  const std::string child = ChildName(pool);
  Json ds;
  ASSERT_TRUE(Eventually([&] { return !(ds = Get(kube::resources::DaemonSets(), ns_, child)).is_null(); }));
  const std::string image = ds["spec"]["template"]["spec"]["containers"][0]["image"];

  Json edit = {{"spec", {{"template", {{"spec", {{"containers", Json::array({{{"name", "agent"}, {"image", "evil:1"}}})}}}}}}}};
  ASSERT_TRUE(
      client_->Patch(kube::resources::DaemonSets(), ns_, child, kube::PatchType::kStrategicMerge, edit.dump()).ok());
  EXPECT_TRUE(Eventually([&] {
    return Get(kube::resources::DaemonSets(), ns_, child)["spec"]["template"]["spec"]["containers"][0]["image"] == image;
  }));
  // A deleted child comes back too.
  ASSERT_TRUE(client_->Delete(kube::resources::Services(), ns_, child).ok());
  EXPECT_TRUE(Eventually([&] { return !Get(kube::resources::Services(), ns_, child).is_null(); }));
  // Deleting the CRDs deletes the pool's objects of those kinds too, and the
  // reconcile that follows may still find the kinds served in its discovery
  // cache: its apply's 404 means "not installed", not a failed reconcile.
  auto ev = client_->Raw("GET", "/apis/events.k8s.io/v1/namespaces/default/events?fieldSelector=regarding.name%3D" + pool);
  ASSERT_TRUE(ev.ok());
  for (const auto& e : (*ev)["items"]) {
    EXPECT_NE(e.value("type", ""), "Warning") << e.value("reason", "") << ": " << e.value("note", "");
  }
}

TEST_F(OperatorIntegrationTest, KilledMidReconcileLosesNothing) {
  std::string tag = UniqueName("t");
  constexpr int kNodes = 150;
  std::set<std::string> all;
  for (int i = 0; i < kNodes; ++i) all.insert(Node({{"hf-test", tag}}));
  std::string pool = CreatePool(Pool(UniqueName("pool"), "hashfoundry.com/" + tag, {{"hf-test", tag}}));
  // Kill it as soon as labelling has begun, before it can have finished.
  ASSERT_TRUE(Eventually([&] { return !LabelledNodes(pool).empty(); }, std::chrono::seconds(30),
                         std::chrono::milliseconds(5)));
  op_->Signal(SIGKILL);
  op_->Wait();
  size_t at_kill = LabelledNodes(pool).size();
  StartOperator();
  EXPECT_TRUE(Eventually([&] { return LabelledNodes(pool) == all; }, std::chrono::seconds(60)));
  EXPECT_TRUE(Eventually([&] {
    return IntAt(Get(api::DevicePools(), "", pool), {"status", "nodes", "labelled"}) == kNodes;
  }));
  EXPECT_TRUE(Eventually([&] { return !Get(kube::resources::DaemonSets(), ns_, ChildName(pool)).is_null(); }));
  RecordProperty("labelled_when_killed", static_cast<int>(at_kill));
}

// Write requests per resource, from the API server's own metrics.
std::map<std::string, double> WritesByResource(LocalCluster& cluster) {
  std::map<std::string, double> out;
  auto r = cluster.Kubectl({"get", "--raw", "/metrics"});
  std::regex line(R"re(^apiserver_request_total\{(.*)\} ([0-9.e+]+)$)re");
  std::regex label(R"re((\w+)="([^"]*)")re");
  std::istringstream in(r.output);
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (!std::regex_match(l, m, line)) continue;
    std::map<std::string, std::string> labels;
    std::string body = m[1];
    for (auto it = std::sregex_iterator(body.begin(), body.end(), label); it != std::sregex_iterator(); ++it) {
      labels[(*it)[1]] = (*it)[2];
    }
    const std::string& verb = labels["verb"];
    // DELETEs are left out: the garbage collector still removes earlier
    // tests' children; the operator's own deletes are counted from its
    // client metrics instead.
    if (verb == "GET" || verb == "LIST" || verb == "WATCH" || verb == "DELETE") continue;
    out[labels["resource"] + "/" + labels["subresource"]] += std::stod(m[2]);
  }
  return out;
}

// The sum of one metric's series in the operator's /metrics whose labels
// `keep` accepts; -1 before it serves metrics.
double OperatorMetric(ChildProcess& op, const std::string& name,
                      const std::function<bool(const std::string& labels)>& keep) {
  std::smatch m;
  std::string log = op.Log();
  if (!std::regex_search(log, m, std::regex("http server listening on port ([0-9]+)"))) return -1;
  auto r = hf::testing::Run({"curl", "-sf", "http://127.0.0.1:" + m[1].str() + "/metrics"});
  double total = 0;
  std::regex line("^" + name + R"re(\{(.*)\} ([0-9.e+]+)$)re");
  std::istringstream in(r.output);
  for (std::string l; std::getline(in, l);) {
    std::smatch lm;
    if (std::regex_match(l, lm, line) && keep(lm[1])) total += std::stod(lm[2]);
  }
  return total;
}

// The operator's count of reconciles.
double OperatorReconciles(ChildProcess& op) {
  return OperatorMetric(op, "controller_runtime_reconcile_total", [](const std::string&) { return true; });
}

// The operator's own count of write requests.
double OperatorWrites(ChildProcess& op) {
  return OperatorMetric(op, "rest_client_requests_total", [](const std::string& labels) {
    for (const char* read : {"verb=\"get\"", "verb=\"list\"", "verb=\"watch\""}) {
      if (labels.find(read) != std::string::npos) return false;
    }
    return true;
  });
}

// The chart runs two replicas with leader election: the standby writes
// nothing while the leader lives, and takes over when the leader stops (a
// rolling update's SIGTERM releases the Lease, so without waiting for it to
// expire).
TEST_F(OperatorIntegrationTest, StandbyReplicaWritesNothingAndTakesOver) {
  // The fixture's operator elects no leader; it goes once it is up (a signal
  // before its handler is installed would kill it).
  ASSERT_TRUE(Eventually([&] { return op_->Log().find("caches synced") != std::string::npos; })) << op_->Log();
  op_->Signal(SIGTERM);
  ASSERT_EQ(op_->Wait(), 0) << op_->Log();
  op_.reset();
  auto replica = [&](const std::string& id) {
    return ChildProcess::Start({HF_OPERATOR_BIN, "--kubeconfig=" + sa_kubeconfig_, "--namespace=" + ns_,
                                "--agent-cluster-role=" + release_ + "-agent", "--http-address=127.0.0.1:0",
                                "--log-level=debug", "--leader-elect=true", "--identity=" + id},
                               cluster_.dir() + "/" + id + ".log");
  };
  auto holder = [&] {
    return At(Get(kube::resources::Leases(), ns_, "hashfoundry-device-operator"), {"spec", "holderIdentity"});
  };
  std::string a_id = release_ + "-a", b_id = release_ + "-b";
  auto a = replica(a_id);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(Eventually([&] { return holder() == a_id; })) << a->Log();
  auto b = replica(b_id);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(Eventually([&] { return b->Log().find("leader is now " + a_id) != std::string::npos; })) << b->Log();

  std::string tag = UniqueName("t");
  std::string n1 = Node({{"hf-test", tag}});
  std::string p1 = CreatePool(Pool(UniqueName("pool"), "hashfoundry.com/" + tag, {{"hf-test", tag}}));
  EXPECT_TRUE(Eventually([&] { return LabelledNodes(p1) == std::set<std::string>{n1}; })) << a->Log();
  EXPECT_TRUE(Eventually([&] { return !Get(kube::resources::DaemonSets(), ns_, ChildName(p1)).is_null(); }));
  EXPECT_EQ(holder(), a_id);
  EXPECT_EQ(OperatorWrites(*b), 0) << "the standby wrote while the leader lived:\n" << b->Log();
  EXPECT_EQ(b->Log().find("pool " + p1), std::string::npos) << "the standby reconciled:\n" << b->Log();

  a->Signal(SIGTERM);
  EXPECT_EQ(a->Wait(), 0) << a->Log();
  EXPECT_TRUE(Eventually([&] { return holder() == b_id; }, std::chrono::seconds(10))) << b->Log();
  std::string n2 = Node({{"hf-test", tag}});
  EXPECT_TRUE(Eventually([&] { return LabelledNodes(p1) == std::set<std::string>{n1, n2}; })) << b->Log();
  std::string p2 = CreatePool(Pool(UniqueName("pool"), "hashfoundry.com/" + tag + "-2", {{"hf-test", tag + "-2"}}));
  EXPECT_TRUE(Eventually([&] { return !Get(kube::resources::DaemonSets(), ns_, ChildName(p2)).is_null(); }))
      << b->Log();
  op_ = std::move(b);  // TearDown deletes the pools while it runs, then stops it
}

TEST_F(OperatorIntegrationTest, SteadyStateSendsNoWrites) {
  std::string tag = UniqueName("t");
  for (int i = 0; i < 3; ++i) Node({{"hf-test", tag}});
  std::string p1 = CreatePool(Pool(UniqueName("pool"), "hashfoundry.com/" + tag + "a", {{"hf-test", tag}}));
  // p2's agent resources are not in canonical form: the API server stores
  // "500m" and "128Mi" for them, which must not read as drift.
  Json pool2 = Pool(UniqueName("pool"), "hashfoundry.com/" + tag + "b", {{"hf-test", tag}});
  pool2["spec"]["agent"]["resources"] = {{"limits", {{"cpu", "0.5"}, {"memory", "0.125Gi"}}},
                                         {"requests", {{"cpu", "0.01"}}}};
  std::string p2 = CreatePool(pool2);
  for (const auto& p : {p1, p2}) {
    ASSERT_TRUE(Eventually([&] { return IntAt(Get(api::DevicePools(), "", p), {"status", "nodes", "labelled"}) == 3; }));
  }
  // Settled: no new status write, and none by the operator's client for
  // longer than the Event recorder's series update interval (10 s), so a
  // series counted during the start-up burst is written before the window.
  auto settled = [&] {
    double prev_status = -1, prev_own = -1;
    auto quiet_since = std::chrono::steady_clock::now();
    return Eventually(
        [&] {
          double status = WritesByResource(cluster_)["devicepools/status"];
          double own = OperatorWrites(*op_);
          auto now = std::chrono::steady_clock::now();
          if (status != prev_status || own != prev_own) quiet_since = now;
          prev_status = status;
          prev_own = own;
          return now - quiet_since >= std::chrono::seconds(11);
        },
        std::chrono::seconds(60), std::chrono::seconds(1));
  };
  ASSERT_TRUE(settled());

  // Only the operator writes these; the DaemonSet's status is the
  // controller-manager's and Events are also the scheduler's, so both are
  // left out (the operator's own Events are counted by its client metrics).
  const std::vector<std::string> ours = {"devicepools/", "devicepools/status", "daemonsets/", "serviceaccounts/",
                                         "services/", "clusterrolebindings/", "devicepoolnodes/"};
  auto before = WritesByResource(cluster_);
  double own_before = OperatorWrites(*op_);
  ASSERT_GT(own_before, 0) << "no write counted at all: the metrics scrape is broken";
  auto window_end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  // A touch of p2 (an annotation: no new generation) makes the operator
  // reconcile it and compare every child with what the server holds.
  double reconciles = OperatorReconciles(*op_);
  ASSERT_TRUE(client_->Patch(api::DevicePools(), "", p2, kube::PatchType::kMerge,
                             R"({"metadata":{"annotations":{"hf-test/touch":"1"}}})")
                  .ok());
  ASSERT_TRUE(Eventually([&] { return OperatorReconciles(*op_) > reconciles; })) << "no reconcile after the touch";
  // The 30 s window is what is measured; nothing is awaited.
  Eventually([&] { return std::chrono::steady_clock::now() >= window_end; }, std::chrono::seconds(31),
             std::chrono::milliseconds(500));
  auto after = WritesByResource(cluster_);
  for (const auto& r : ours) {
    EXPECT_EQ(after[r] - before[r], r == "devicepools/" ? 1 : 0) << r << " written during the steady state";
  }
  EXPECT_EQ(OperatorWrites(*op_) - own_before, 0) << "the operator's client counted writes";
}

// DRA: the pool's DeviceClass, checked as the API server stores it, repaired
// when deleted or edited, and removed once the pool is back on DevicePlugin
// and no agent serves DRA any more.
TEST_F(OperatorIntegrationTest, ADraPoolHasADeviceClassUntilItsLastDraAgentIsGone) {
  std::string tag = UniqueName("t");
  Node({{"hf-test", tag}});
  Json dra_pool = Pool(UniqueName("dra"), "hashfoundry.com/" + tag, {{"hf-test", tag}});
  dra_pool["spec"]["allocationAPI"] = "DRA";
  const std::string pool = CreatePool(dra_pool);
  const std::string name = api::DraDriverName(pool);
  const std::string child = ChildName(pool);

  Json dc;
  ASSERT_TRUE(Eventually([&] { return !(dc = Get(DeviceClasses(), "", name)).is_null(); })) << op_->Log();
  EXPECT_EQ(dc["spec"]["selectors"],
            Json::array({{{"cel", {{"expression", "device.driver == \"" + name + "\""}}}}}));
  EXPECT_EQ(dc["spec"]["extendedResourceName"], "hashfoundry.com/" + tag)
      << "DRAExtendedResource off in this cluster?";
  const Json& ref = dc["metadata"]["ownerReferences"][0];
  EXPECT_EQ(ref["uid"], Get(api::DevicePools(), "", pool)["metadata"]["uid"]);
  EXPECT_EQ(ref["controller"], true);
  EXPECT_EQ(dc["metadata"]["labels"]["hashfoundry.com/pool"], pool);
  EXPECT_TRUE(Eventually([&] { return Condition(pool, "DeviceClassAvailable") == "True"; }));
  Json ds;
  ASSERT_TRUE(Eventually([&] { return !(ds = Get(kube::resources::DaemonSets(), ns_, child)).is_null(); }));
  const Json args = ds["spec"]["template"]["spec"]["containers"][0]["args"];
  EXPECT_NE(std::find(args.begin(), args.end(), Json("--allocation-api=DRA")), args.end()) << args.dump();
  EXPECT_NE(std::find(args.begin(), args.end(), Json("--driver-name=" + name)), args.end()) << args.dump();

  // Deleted or edited by hand: put back.
  ASSERT_TRUE(client_->Delete(DeviceClasses(), "", name).ok());
  EXPECT_TRUE(Eventually([&] { return !Get(DeviceClasses(), "", name).is_null(); })) << "the DeviceClass stayed deleted";
  ASSERT_TRUE(client_->Patch(DeviceClasses(), "", name, kube::PatchType::kMerge,
                             R"({"spec":{"selectors":[{"cel":{"expression":"true"}}]}})")
                  .ok());
  EXPECT_TRUE(Eventually([&] { return Get(DeviceClasses(), "", name)["spec"] == dc["spec"]; }))
      << "the DeviceClass kept a hand edit";

  ASSERT_TRUE(client_->Patch(api::DevicePools(), "", pool, kube::PatchType::kMerge,
                             R"({"spec":{"allocationAPI":"DevicePlugin"}})")
                  .ok());
  ASSERT_TRUE(Eventually([&] {
    const Json a = Get(kube::resources::DaemonSets(), ns_, child)["spec"]["template"]["spec"]["containers"][0]["args"];
    return a.is_array() && std::find(a.begin(), a.end(), Json("--allocation-api=DRA")) == a.end();
  })) << "the DaemonSet's template is still DRA";
  // Settled on the new spec, the class is still there for the DRA agent.
  ASSERT_TRUE(Eventually([&] {
    return IntAt(Get(api::DevicePools(), "", pool), {"status", "observedGeneration"}) == 2;
  }));
  // The DaemonSet controller made the node an agent pod of the DRA template
  // (Pending: no kubelet here). It still serves DRA, as far as anyone
  // knows, so the class stays.
  auto dra_agents = [&] {
    std::vector<std::string> names;
    kube::ListOptions lo;
    lo.label_selector = "hashfoundry.com/pool=" + pool;
    auto pods = client_->List(kube::resources::Pods(), ns_, lo);
    if (!pods.ok()) return names;
    for (const auto& p : pods->items) {
      const Json a = p["spec"]["containers"][0]["args"];
      if (std::find(a.begin(), a.end(), Json("--allocation-api=DRA")) != a.end()) names.push_back(p["metadata"]["name"]);
    }
    return names;
  };
  ASSERT_TRUE(Eventually([&] { return !dra_agents().empty(); })) << "no agent pod of the DRA template";
  EXPECT_FALSE(Get(DeviceClasses(), "", name).is_null()) << "removed while an agent still serves DRA";
  EXPECT_EQ(Condition(pool, "DeviceClassAvailable"), "True");

  // Replaced, as the rollout replaces it on a Ready node: its successor
  // comes from the DevicePlugin template, and the class goes.
  for (const auto& p : dra_agents()) ASSERT_TRUE(client_->Delete(kube::resources::Pods(), ns_, p).ok());
  EXPECT_TRUE(Eventually([&] { return dra_agents().empty(); }));
  EXPECT_TRUE(Eventually([&] { return Get(DeviceClasses(), "", name).is_null(); }))
      << "the DeviceClass outlived the last DRA agent";
  std::string message;
  EXPECT_TRUE(Eventually([&] { return Condition(pool, "DeviceClassAvailable", &message) == "False"; })) << message;
  // And back to DRA: it comes again.
  ASSERT_TRUE(client_->Patch(api::DevicePools(), "", pool, kube::PatchType::kMerge,
                             R"({"spec":{"allocationAPI":"DRA"}})")
                  .ok());
  EXPECT_TRUE(Eventually([&] { return !Get(DeviceClasses(), "", name).is_null(); }));
  EXPECT_TRUE(Eventually([&] { return Condition(pool, "DeviceClassAvailable") == "True"; }));
}

// It installs the monitoring CRDs for the whole cluster and removes them
// again however it ends, so the other tests never see them.
TEST_F(OperatorIntegrationTest, MonitoringObjectsAppearWhenTheirCrdsAreInstalled) {
  std::string tag = UniqueName("t");
  Node({{"hf-test", tag}});
  std::string pool = CreatePool(Pool(UniqueName("pool"), "hashfoundry.com/" + tag, {{"hf-test", tag}}));
  const std::string child = ChildName(pool);
  const std::string crds = std::string(HF_SOURCE_DIR) + "/tests/operator/integration/testdata/monitoring-crds.yaml";
  struct RemoveCrds {
    LocalCluster& cluster;
    const std::string& file;
    ~RemoveCrds() { (void)cluster.Kubectl({"delete", "-f", file, "--ignore-not-found", "--wait=true"}); }
  } remove_crds{cluster_, crds};
  auto k = cluster_.Kubectl({"apply", "--server-side", "-f", crds});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  kube::GroupVersionResource sm{"monitoring.coreos.com", "v1", "servicemonitors", true};
  kube::GroupVersionResource pr{"monitoring.coreos.com", "v1", "prometheusrules", true};
  EXPECT_TRUE(Eventually([&] { return !Get(sm, ns_, child).is_null(); }, std::chrono::seconds(60)));
  EXPECT_TRUE(Eventually([&] { return !Get(pr, ns_, child).is_null(); }));
  EXPECT_TRUE(Eventually([&] { return Condition(pool, "MonitoringAvailable") == "True"; }));
  Json rule = Get(pr, ns_, child);
  EXPECT_EQ(rule["spec"]["groups"][0]["rules"].size(), 4u);

  // Watched like the other children: a deletion or an edit of either kind
  // is repaired without anything else happening to the pool.
  Json monitor = Get(sm, ns_, child);
  ASSERT_TRUE(client_->Delete(sm, ns_, child).ok());
  EXPECT_TRUE(Eventually([&] { return !Get(sm, ns_, child).is_null(); })) << "the ServiceMonitor stayed deleted";
  ASSERT_TRUE(client_->Delete(pr, ns_, child).ok());
  EXPECT_TRUE(Eventually([&] { return !Get(pr, ns_, child).is_null(); })) << "the PrometheusRule stayed deleted";
  ASSERT_TRUE(client_->Patch(sm, ns_, child, kube::PatchType::kMerge,
                             R"({"spec":{"endpoints":[{"port":"metrics","interval":"1h"}]}})")
                  .ok());
  EXPECT_TRUE(Eventually([&] { return Get(sm, ns_, child)["spec"]["endpoints"] == monitor["spec"]["endpoints"]; }))
      << "the ServiceMonitor kept a hand edit";
  ASSERT_TRUE(client_->Patch(pr, ns_, child, kube::PatchType::kMerge, R"({"spec":{"groups":[]}})").ok());
  EXPECT_TRUE(Eventually([&] { return Get(pr, ns_, child)["spec"]["groups"] == rule["spec"]["groups"]; }))
      << "the PrometheusRule kept a hand edit";

  // The CRDs removed: the operator stops watching them, says so in the
  // condition, and goes on reconciling the pool.
  k = cluster_.Kubectl({"delete", "-f", crds, "--wait=true"});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  std::string message;
  EXPECT_TRUE(Eventually([&] { return Condition(pool, "MonitoringAvailable", &message) == "False"; }))
      << message;
  EXPECT_TRUE(Eventually([&] {
    const std::string log = op_->Log();
    return log.find("informer servicemonitors.monitoring.coreos.com: stopped") != std::string::npos &&
           log.find("informer prometheusrules.monitoring.coreos.com: stopped") != std::string::npos;
  })) << op_->Log();
  ASSERT_TRUE(client_->Delete(kube::resources::Services(), ns_, child).ok());
  EXPECT_TRUE(Eventually([&] { return !Get(kube::resources::Services(), ns_, child).is_null(); }));
  // Deleting the CRDs deletes the pool's objects of those kinds too, and the
  // reconcile that follows may still find the kinds served in its discovery
  // cache: its apply's 404 means "not installed", not a failed reconcile.
  auto ev = client_->Raw("GET", "/apis/events.k8s.io/v1/namespaces/default/events?fieldSelector=regarding.name%3D" + pool);
  ASSERT_TRUE(ev.ok());
  for (const auto& e : (*ev)["items"]) {
    EXPECT_NE(e.value("type", ""), "Warning") << e.value("reason", "") << ": " << e.value("note", "");
  }
}

}  // namespace
}  // namespace hf::controller
