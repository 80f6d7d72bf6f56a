// Every branch of DevicePoolReconciler::Reconcile, in milliseconds: the
// operator's own informers over kube::FakeClient, a FakeDiscovery, a recording
// EventRecorder and a FakeClock. The integration tests
// (tests/operator/integration) run the same decisions against a real API
// server.
#include "operator/reconciler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "api/device_pool.h"
#include "api/names.h"
#include "kube/fake/fake_client.h"
#include "kube/fake/fake_discovery.h"
#include "operator/caches.h"
#include "operator/desired.h"

namespace hf::controller {
namespace {

using kube::Json;
using namespace std::chrono_literals;

constexpr char kNs[] = "hashfoundry-system";
constexpr char kPool[] = "custom-device";
constexpr char kResource[] = "hashfoundry.com/custom-device";

class RecordingEvents final : public kube::EventRecorder {
 public:
  void Eventf(const kube::ObjectReference& regarding, kube::EventType type, std::string_view reason,
              std::string_view, std::string_view note) override {
    std::lock_guard<std::mutex> l(mu_);
    events_.push_back(std::string(type == kube::EventType::kWarning ? "Warning " : "Normal ") + regarding.name + " " +
                      std::string(reason) + ": " + std::string(note));
  }
  std::vector<std::string> Take() {
    std::lock_guard<std::mutex> l(mu_);
    return std::exchange(events_, {});
  }

 private:
  std::mutex mu_;
  std::vector<std::string> events_;
};

size_t CountPrefix(const std::vector<std::string>& v, const std::string& prefix) {
  return std::count_if(v.begin(), v.end(), [&](const std::string& s) { return s.rfind(prefix, 0) == 0; });
}

Json PoolObject(const std::string& name, const std::string& created = "2026-01-01T00:00:00Z",
                const std::string& match = "enabled") {
  return {{"apiVersion", std::string(api::kApiVersion)},
          {"kind", std::string(api::kDevicePoolKind)},
          {"metadata", {{"name", name}, {"creationTimestamp", created}}},
          {"spec",
           {{"resourceName", kResource},
            {"nodeSelector", {{"matchLabels", {{"hashfoundry.com/custom-device", match}}}}},
            {"discovery", {{"simulated", {{"count", 4}, {"prefix", "hashfoundry-device"}}}}}}}};
}

Json DraPoolObject(const std::string& name) {
  Json pool = PoolObject(name);
  pool["spec"]["allocationAPI"] = "DRA";
  return pool;
}

// An agent pod of kPool on `node`, Ready, running `revision`, serving DRA or
// not (as its arguments say).
Json AgentPodObject(const std::string& name, const std::string& node, const std::string& revision, bool dra) {
  Json args = Json::array({"--pool=" + std::string(kPool)});
  if (dra) args.push_back(kDraAgentArg);
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", name},
            {"namespace", kNs},
            {"labels", {{kManagedByLabel, kManagedByValue}, {std::string(api::kPoolLabel), kPool}}},
            {"annotations", {{kTemplateHashAnnotation, revision}}}}},
          {"spec", {{"nodeName", node}, {"containers", Json::array({{{"name", "agent"}, {"args", args}}})}}},
          {"status", {{"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
}

Json NodeObject(const std::string& name, const std::map<std::string, std::string>& labels, bool ready = true) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}, {"labels", labels}}},
          {"status", {{"conditions", Json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}})}}}};
}

class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    informers_ = std::make_unique<OperatorInformers>(client_, kNs);
    for (auto& [synced, run] : informers_->Runnables()) threads_.emplace_back(run);
    Settle();
    OperatorConfig cfg;
    cfg.namespace_ = kNs;
    reconciler_ = std::make_unique<DevicePoolReconciler>(
        ReconcilerDeps{client_, informers_->caches(), discovery_, events_, nullptr, clock_, cfg, 4});
  }
  void TearDown() override {
    for (auto& t : threads_) t.request_stop();
    threads_.clear();
  }

  // Until every informer holds every write made so far.
  void Settle() {
    size_t watchers = threads_.size() + (informers_->service_monitors.IsRunning() ? 1 : 0) +
                      (informers_->prometheus_rules.IsRunning() ? 1 : 0) +
                      (informers_->device_classes.IsRunning() ? 1 : 0) +
                      (informers_->resource_slices.IsRunning() ? 1 : 0) +
                      (informers_->resource_claims.IsRunning() ? 1 : 0);
    ASSERT_TRUE(client_.WaitForWatchers(watchers, 10s)) << "informers did not catch up";
  }

  kube::StatusOr<kube::Result> Reconcile(const std::string& pool = kPool) {
    Settle();
    auto r = reconciler_->Reconcile({"", pool}, {});
    Settle();
    return r;
  }

  // Reconciles until the pool's status stops changing (at most 5 rounds).
  void Converge(const std::string& pool = kPool) {
    for (int i = 0; i < 5; ++i) {
      client_.ClearActions();
      ASSERT_TRUE(Reconcile(pool).ok());
      if (client_.Writes().empty()) return;
    }
    FAIL() << "still writing after 5 reconciles";
  }

  Json Get(const kube::GroupVersionResource& gvr, const std::string& ns, const std::string& name) {
    auto o = client_.Peek(gvr, ns, name);
    return o ? *o : Json();
  }
  std::string Label(const std::string& node, const std::string& pool = kPool) {
    Json n = Get(kube::resources::Nodes(), "", node);
    return n["metadata"].value("labels", Json::object()).value(api::NodeSelectionLabel(pool), "");
  }
  api::DevicePoolStatus Status(const std::string& pool = kPool) {
    return api::DecodeDevicePoolStatus(Get(api::DevicePools(), "", pool));
  }
  // The status must outlive the pointer (no temporaries).
  static const api::Condition* Find(const api::DevicePoolStatus&& st, std::string_view type) = delete;
  static const api::Condition* Find(const api::DevicePoolStatus& st, std::string_view type) {
    for (const auto& c : st.conditions) {
      if (c.type == type) return &c;
    }
    return nullptr;
  }

  kube::FakeClock clock_;
  kube::FakeClient client_{clock_};
  kube::FakeDiscovery discovery_;
  RecordingEvents events_;
  std::unique_ptr<OperatorInformers> informers_;
  std::vector<std::jthread> threads_;
  std::unique_ptr<DevicePoolReconciler> reconciler_;
};

TEST_F(ReconcilerTest, NewPoolGetsItsFinalizerLabelsChildrenAndStatus) {
  client_.Add(kube::resources::Nodes(), NodeObject("node-1", {{"hashfoundry.com/custom-device", "enabled"}}));
  client_.Add(kube::resources::Nodes(), NodeObject("node-2", {{"hashfoundry.com/custom-device", "enabled"}}));
  client_.Add(kube::resources::Nodes(), NodeObject("node-3", {}));
  client_.Add(api::DevicePools(), PoolObject(kPool));

  ASSERT_TRUE(Reconcile().ok());

  Json pool = Get(api::DevicePools(), "", kPool);
  EXPECT_EQ(pool["metadata"]["finalizers"], Json::array({std::string(api::kNodeLabelsFinalizer)}));
  EXPECT_EQ(Label("node-1"), "enabled");
  EXPECT_EQ(Label("node-2"), "enabled");
  EXPECT_EQ(Label("node-3"), "");
  const std::string child = ChildName(kPool);
  EXPECT_FALSE(Get(kube::resources::ServiceAccounts(), kNs, child).is_null());
  EXPECT_FALSE(Get(kube::resources::ClusterRoleBindings(), "", BindingName(kPool)).is_null());
  EXPECT_FALSE(Get(kube::resources::DaemonSets(), kNs, child).is_null());
  EXPECT_FALSE(Get(kube::resources::Services(), kNs, child).is_null());
  auto events = events_.Take();
  EXPECT_EQ(CountPrefix(events, "Normal custom-device NodesLabelled: labelled 2 node(s), unlabelled 0"), 1u);
  EXPECT_EQ(CountPrefix(events, "Normal custom-device Created:"), 4u);

  api::DevicePoolStatus st = Status();
  EXPECT_EQ(st.nodes.selected, 2);
  EXPECT_EQ(st.nodes.labelled, 2);
  const api::Condition* ready = Find(st, api::kConditionReady);
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ(ready->status, api::ConditionStatus::kFalse) << "no agent has reported";
}

TEST_F(ReconcilerTest, SteadyStateWritesNothing) {
  client_.Add(kube::resources::Nodes(), NodeObject("node-1", {{"hashfoundry.com/custom-device", "enabled"}}));
  client_.Add(api::DevicePools(), PoolObject(kPool));
  Converge();
  events_.Take();

  client_.ClearActions();
  ASSERT_TRUE(Reconcile().ok());
  EXPECT_EQ(client_.Writes(), std::vector<std::string>{});
  EXPECT_EQ(events_.Take(), std::vector<std::string>{});
}

TEST_F(ReconcilerTest, HandEditedDaemonSetIsPutBackAndRecorded) {
  client_.Add(kube::resources::Nodes(), NodeObject("node-1", {{"hashfoundry.com/custom-device", "enabled"}}));
  client_.Add(api::DevicePools(), PoolObject(kPool));
  Converge();
  events_.Take();
  const std::string child = ChildName(kPool);
  Json ds = Get(kube::resources::DaemonSets(), kNs, child);
  const Json want_image = ds["spec"]["template"]["spec"]["containers"][0]["image"];
  ds["spec"]["template"]["spec"]["containers"][0]["image"] = "someone/else:1";
  ASSERT_TRUE(client_.Update(kube::resources::DaemonSets(), kNs, ds).ok());

  client_.ClearActions();
  ASSERT_TRUE(Reconcile().ok());

  EXPECT_EQ(client_.Writes(), std::vector<std::string>{"apply daemonsets/" + std::string(kNs) + "/" + child});
  EXPECT_EQ(Get(kube::resources::DaemonSets(), kNs, child)["spec"]["template"]["spec"]["containers"][0]["image"],
            want_image);
  EXPECT_EQ(CountPrefix(events_.Take(), "Normal custom-device Updated: updated DaemonSet"), 1u);
}

TEST_F(ReconcilerTest, OlderPoolKeepsASharedNodeAndTheNewerOneReportsTheConflict) {
  client_.Add(kube::resources::Nodes(), NodeObject("node-1", {{"hashfoundry.com/custom-device", "enabled"}}));
  client_.Add(api::DevicePools(), PoolObject("old", "2026-01-01T00:00:00Z"));
  client_.Add(api::DevicePools(), PoolObject("new", "2026-01-01T01:00:00Z"));

  ASSERT_TRUE(Reconcile("new").ok());
  EXPECT_EQ(Label("node-1", "new"), "") << "the newer pool must not take the node";
  auto events = events_.Take();
  EXPECT_EQ(CountPrefix(events, "Warning new Conflict: node node-1 is claimed by older pool old"), 1u);
  api::DevicePoolStatus st = Status("new");
  ASSERT_EQ(st.problem_nodes.size(), 1u);
  EXPECT_EQ(st.problem_nodes[0].node, "node-1");
  EXPECT_EQ(st.problem_nodes[0].reason, "Conflict");

  ASSERT_TRUE(Reconcile("old").ok());
  EXPECT_EQ(Label("node-1", "old"), "enabled");
}

TEST_F(ReconcilerTest, ThePoolOwnsItsLabelKeyWhateverTheValue) {
  const std::string key = api::NodeSelectionLabel(kPool);
  client_.Add(kube::resources::Nodes(), NodeObject("node-1", {{"hashfoundry.com/custom-device", "enabled"}, {key, "x"}}));
  client_.Add(kube::resources::Nodes(), NodeObject("node-2", {{key, "disabled"}}));
  client_.Add(api::DevicePools(), PoolObject(kPool));

  ASSERT_TRUE(Reconcile().ok());

  EXPECT_EQ(Label("node-1"), "enabled");
  Json n2 = Get(kube::resources::Nodes(), "", "node-2");
  EXPECT_FALSE(n2["metadata"]["labels"].contains(key)) << n2.dump();
}

TEST_F(ReconcilerTest, ABindingToAnotherRoleIsReplacedNotPatched) {
  client_.Add(api::DevicePools(), PoolObject(kPool));
  Converge();
  Json crb = Get(kube::resources::ClusterRoleBindings(), "", BindingName(kPool));
  crb["roleRef"]["name"] = "some-other-release-agent";
  client_.Add(kube::resources::ClusterRoleBindings(), crb);

  client_.ClearActions();
  ASSERT_TRUE(Reconcile().ok());

  const std::string name = "clusterrolebindings/" + BindingName(kPool);
  EXPECT_EQ(client_.Writes(), (std::vector<std::string>{"delete " + name, "apply " + name}));
  EXPECT_EQ(Get(kube::resources::ClusterRoleBindings(), "", BindingName(kPool))["roleRef"]["name"],
            OperatorConfig().agent_cluster_role);
}

TEST_F(ReconcilerTest, ADeletedPoolWaitsForItsAgentsThenReleasesItsFinalizer) {
  client_.Add(kube::resources::Nodes(), NodeObject("node-1", {{"hashfoundry.com/custom-device", "enabled"}}));
  client_.Add(api::DevicePools(), PoolObject(kPool));
  Converge();
  client_.Add(kube::resources::Pods(),
              {{"apiVersion", "v1"},
               {"kind", "Pod"},
               {"metadata",
                {{"name", "agent-1"},
                 {"namespace", kNs},
                 {"labels", {{kManagedByLabel, kManagedByValue}, {std::string(api::kPoolLabel), kPool}}}}},
               {"spec", {{"nodeName", "node-1"}}}});
  ASSERT_TRUE(client_.Delete(api::DevicePools(), "", kPool).ok());
  ASSERT_FALSE(Get(api::DevicePools(), "", kPool).is_null()) << "the finalizer holds it";

  auto r = Reconcile();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Label("node-1"), "") << "labels go first, so the agents stop";
  EXPECT_EQ(r->requeue_after, 2s) << "an agent still runs on a Ready node";
  EXPECT_FALSE(Get(api::DevicePools(), "", kPool).is_null());

  clock_.Step(61s);  // past the grace an agent gets to clean up its node
  ASSERT_TRUE(Reconcile().ok());
  EXPECT_TRUE(Get(api::DevicePools(), "", kPool).is_null()) << "finalizer released";
}

TEST_F(ReconcilerTest, APoolGoneWithoutItsFinalizerStillLosesItsLabels) {
  client_.Add(kube::resources::Nodes(), NodeObject("node-1", {{api::NodeSelectionLabel("ghost"), "enabled"}}));
  ASSERT_TRUE(Reconcile("ghost").ok());
  EXPECT_EQ(Label("node-1", "ghost"), "");
}

TEST_F(ReconcilerTest, AnInvalidSpecIsAConditionAndOneWarning) {
  Json pool = PoolObject(kPool);
  pool["spec"].erase("resourceName");
  client_.Add(api::DevicePools(), pool);

  ASSERT_TRUE(Reconcile().ok());
  ASSERT_TRUE(Reconcile().ok());

  api::DevicePoolStatus st = Status();
  const api::Condition* invalid = Find(st, api::kConditionInvalid);
  ASSERT_NE(invalid, nullptr);
  EXPECT_EQ(invalid->status, api::ConditionStatus::kTrue);
  EXPECT_EQ(invalid->reason, "InvalidSpec");
  EXPECT_EQ(CountPrefix(events_.Take(), "Warning custom-device InvalidSpec:"), 1u) << "not one per reconcile";
  EXPECT_TRUE(Get(kube::resources::DaemonSets(), kNs, ChildName(kPool)).is_null()) << "nothing is rolled out";
}

TEST_F(ReconcilerTest, MonitoringObjectsFollowDiscovery) {
  client_.Add(api::DevicePools(), PoolObject(kPool));
  const std::string child = ChildName(kPool);

  Converge();
  EXPECT_TRUE(Get(ServiceMonitors(), kNs, child).is_null());
  api::DevicePoolStatus st = Status();
  const api::Condition* mon = Find(st, api::kConditionMonitoringAvailable);
  ASSERT_NE(mon, nullptr);
  EXPECT_EQ(mon->status, api::ConditionStatus::kFalse);

  discovery_.Serve(ServiceMonitors(), true);
  discovery_.Serve(PrometheusRules(), true);
  Converge();
  EXPECT_FALSE(Get(ServiceMonitors(), kNs, child).is_null());
  EXPECT_FALSE(Get(PrometheusRules(), kNs, child).is_null());
  EXPECT_TRUE(informers_->service_monitors.IsRunning());
  st = Status();
  mon = Find(st, api::kConditionMonitoringAvailable);
  ASSERT_NE(mon, nullptr);
  EXPECT_EQ(mon->status, api::ConditionStatus::kTrue);
  events_.Take();

  // The CRD is being deleted: the server refuses writes of its kind.
  client_.AddReactor([](const kube::FakeAction& a) -> std::optional<kube::Status> {
    if (a.verb == "apply" && a.resource == "servicemonitors") {
      return kube::Status(kube::Reason::kForbidden,
                          "create not allowed while custom resource definition is terminating", 403);
    }
    return std::nullopt;
  });
  Json sm = Get(ServiceMonitors(), kNs, child);
  sm["spec"]["endpoints"] = Json::array();
  client_.Add(ServiceMonitors(), sm);  // so the next reconcile applies it
  ASSERT_TRUE(Reconcile().ok()) << "a kind going away is not a reconcile error";
  EXPECT_GE(discovery_.Invalidations(), 1);
  EXPECT_FALSE(informers_->service_monitors.IsRunning());
  EXPECT_EQ(CountPrefix(events_.Take(), "Warning"), 0u);
}

TEST_F(ReconcilerTest, AFailedApplyIsAWarningAnErrorAndDegraded) {
  client_.Add(api::DevicePools(), PoolObject(kPool));
  client_.AddReactor([](const kube::FakeAction& a) -> std::optional<kube::Status> {
    if (a.verb == "apply" && a.resource == "daemonsets") {
      return kube::Status(kube::Reason::kForbidden, "daemonsets.apps is forbidden", 403);
    }
    return std::nullopt;
  });

  auto r = Reconcile();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(kube::IsForbidden(r.status()));
  EXPECT_EQ(CountPrefix(events_.Take(), "Warning custom-device ApplyFailed: DaemonSet"), 1u);
  api::DevicePoolStatus st = Status();
  const api::Condition* degraded = Find(st, api::kConditionDegraded);
  ASSERT_NE(degraded, nullptr);
  EXPECT_EQ(degraded->status, api::ConditionStatus::kTrue);
  EXPECT_EQ(degraded->reason, "ReconcileError");
}

TEST_F(ReconcilerTest, AReportOfANodeLeftBehindIsDeleted) {
  client_.Add(kube::resources::Nodes(), NodeObject("node-1", {{"hashfoundry.com/custom-device", "enabled"}}));
  client_.Add(api::DevicePools(), PoolObject(kPool));
  client_.Add(api::DevicePoolNodes(), {{"apiVersion", std::string(api::kApiVersion)},
                                       {"kind", std::string(api::kDevicePoolNodeKind)},
                                       {"metadata", {{"name", "custom-device.node-9"}}},
                                       {"spec", {{"pool", kPool}, {"node", "node-9"}}}});

  ASSERT_TRUE(Reconcile().ok());

  EXPECT_TRUE(Get(api::DevicePoolNodes(), "", "custom-device.node-9").is_null());
  EXPECT_EQ(CountPrefix(events_.Take(), "Normal custom-device Deleted: deleted DevicePoolNode custom-device.node-9"),
            1u);
}

TEST_F(ReconcilerTest, ALabelPatchThatFailsIsRetriedAndTheOthersStay) {
  client_.Add(kube::resources::Nodes(), NodeObject("node-1", {{"hashfoundry.com/custom-device", "enabled"}}));
  client_.Add(kube::resources::Nodes(), NodeObject("node-2", {{"hashfoundry.com/custom-device", "enabled"}}));
  client_.Add(api::DevicePools(), PoolObject(kPool));
  client_.AddReactor([](const kube::FakeAction& a) -> std::optional<kube::Status> {
    if (a.verb == "patch" && a.name == "node-2") return kube::Status(kube::Reason::kServiceUnavailable, "busy", 503);
    return std::nullopt;
  });

  auto r = Reconcile();
  EXPECT_FALSE(r.ok()) << "the failure decides the retry";
  EXPECT_EQ(Label("node-1"), "enabled");
  EXPECT_EQ(Label("node-2"), "");
  api::DevicePoolStatus st = Status();
  EXPECT_EQ(st.nodes.labelled, 1);
  const api::Condition* degraded = Find(st, api::kConditionDegraded);
  ASSERT_NE(degraded, nullptr);
  EXPECT_NE(degraded->message.find("labelling nodes"), std::string::npos) << degraded->message;
}

TEST_F(ReconcilerTest, AFinalizerPatchOnAStaleVersionIsAConflictNotALostWrite) {
  client_.Add(api::DevicePools(), PoolObject(kPool));
  Converge();
  // The finalizer patch is conditional on the resourceVersion the cache
  // holds; a write in between makes it a Conflict, not a lost finalizer.
  Json pool = PoolObject("second");
  client_.Add(api::DevicePools(), pool);
  Settle();
  client_.AddReactor([this](const kube::FakeAction& a) -> std::optional<kube::Status> {
    if (a.verb == "patch" && a.name == "second") {
      // Someone else writes the pool just before ours lands.
      Json p = *client_.Peek(api::DevicePools(), "", "second");
      p["metadata"]["labels"]["touched"] = "yes";
      client_.Add(api::DevicePools(), p);
    }
    return std::nullopt;
  });
  auto r = reconciler_->Reconcile({"", "second"}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(kube::IsConflict(r.status())) << r.status().ToString();
  EXPECT_FALSE(Get(api::DevicePools(), "", "second")["metadata"].contains("finalizers"));
}

}  // namespace
}  // namespace hf::controller

namespace hf::controller {
namespace {

class DraReconcilerTest : public ReconcilerTest {
 protected:
  void SetUp() override {
    ReconcilerTest::SetUp();
    discovery_.Serve(DeviceClasses(), true);
    discovery_.Serve(ResourceSlices(), true);
    client_.Add(kube::resources::Nodes(), NodeObject("node-1", {{"hashfoundry.com/custom-device", "enabled"}}));
  }

  Json DeviceClass() { return Get(DeviceClasses(), "", api::DraDriverName(kPool)); }
  std::string Revision() {
    return TemplateRevision(Get(kube::resources::DaemonSets(), kNs, ChildName(kPool))["spec"]["template"]);
  }
  const api::Condition* DeviceClassCondition(const api::DevicePoolStatus& st) {
    return Find(st, api::kConditionDeviceClassAvailable);
  }
};

TEST_F(DraReconcilerTest, ADraPoolGetsItsDeviceClassAndHandEditsAreRepaired) {
  client_.Add(api::DevicePools(), DraPoolObject(kPool));
  Converge();
  const std::string name = api::DraDriverName(kPool);
  Json dc = DeviceClass();
  ASSERT_FALSE(dc.is_null());
  EXPECT_EQ(dc["spec"]["extendedResourceName"], kResource);
  EXPECT_EQ(dc["spec"]["selectors"][0]["cel"]["expression"], "device.driver == \"" + name + "\"");
  EXPECT_EQ(dc["metadata"]["ownerReferences"][0]["name"], kPool);
  EXPECT_EQ(dc["metadata"]["labels"][kManagedByLabel], kManagedByValue);
  EXPECT_TRUE(informers_->device_classes.IsRunning());
  EXPECT_TRUE(informers_->resource_slices.IsRunning()) << "a DRA pool's rollout gate reads the slices";
  api::DevicePoolStatus st = Status();
  ASSERT_NE(DeviceClassCondition(st), nullptr);
  EXPECT_EQ(DeviceClassCondition(st)->status, api::ConditionStatus::kTrue);
  EXPECT_EQ(CountPrefix(events_.Take(), "Normal custom-device Created: created DeviceClass " + name), 1u);

  client_.ClearActions();
  ASSERT_TRUE(Reconcile().ok());
  EXPECT_EQ(client_.Writes(), std::vector<std::string>{}) << "steady state";

  ASSERT_TRUE(client_.Delete(DeviceClasses(), "", name).ok());
  Converge();
  EXPECT_EQ(DeviceClass()["spec"], dc["spec"]) << "a deleted DeviceClass comes back";

  // extendedResourceName removed by hand: the apply's answer has it again,
  // so it was an edit, not a server that drops the field.
  Json edited = DeviceClass();
  edited["spec"].erase("extendedResourceName");
  client_.Add(DeviceClasses(), edited);
  events_.Take();
  Converge();
  EXPECT_EQ(DeviceClass()["spec"]["extendedResourceName"], kResource);
  EXPECT_EQ(CountPrefix(events_.Take(), "Normal custom-device Updated: updated DeviceClass " + name), 1u);
  st = Status();
  EXPECT_EQ(DeviceClassCondition(st)->status, api::ConditionStatus::kTrue);
}

// Two DRA pools with the same resourceName: Kubernetes would serve pods
// asking for it from the newer class only, so only the older pool's class
// carries it, and the newer pool says so; once the older one is gone, the
// newer one's class takes it.
TEST_F(DraReconcilerTest, OnlyTheOldestDraPoolsDeviceClassCarriesTheExtendedResource) {
  Json older = DraPoolObject("older");
  older["metadata"]["creationTimestamp"] = "2025-06-01T00:00:00Z";
  client_.Add(api::DevicePools(), older);
  client_.Add(api::DevicePools(), DraPoolObject(kPool));
  Converge("older");
  Converge();
  EXPECT_EQ(Get(DeviceClasses(), "", api::DraDriverName("older"))["spec"]["extendedResourceName"], kResource);
  Json dc = DeviceClass();
  ASSERT_FALSE(dc.is_null());
  EXPECT_FALSE(dc["spec"].contains("extendedResourceName")) << dc.dump();
  api::DevicePoolStatus st = Status();
  ASSERT_NE(DeviceClassCondition(st), nullptr);
  EXPECT_EQ(DeviceClassCondition(st)->status, api::ConditionStatus::kFalse);
  EXPECT_EQ(DeviceClassCondition(st)->reason, "ExtendedResourceTaken");
  EXPECT_NE(DeviceClassCondition(st)->message.find("older DRA pool older's DeviceClass"), std::string::npos)
      << DeviceClassCondition(st)->message;
  st = Status("older");
  EXPECT_EQ(DeviceClassCondition(st)->status, api::ConditionStatus::kTrue);

  // A device-plugin pool with the same resourceName is no rival.
  Json dp = PoolObject("dp", "2024-01-01T00:00:00Z", "other");
  client_.Add(api::DevicePools(), dp);
  Converge("older");
  EXPECT_EQ(Get(DeviceClasses(), "", api::DraDriverName("older"))["spec"]["extendedResourceName"], kResource);

  ASSERT_TRUE(client_.Delete(api::DevicePools(), "", "older").ok());
  Converge();
  EXPECT_EQ(DeviceClass()["spec"]["extendedResourceName"], kResource);
  st = Status();
  EXPECT_EQ(DeviceClassCondition(st)->status, api::ConditionStatus::kTrue);
}

TEST_F(DraReconcilerTest, DevicePluginPoolsHaveNoDeviceClassAndNoSliceWatch) {
  client_.Add(api::DevicePools(), PoolObject(kPool));
  Converge();
  EXPECT_TRUE(DeviceClass().is_null());
  EXPECT_FALSE(informers_->resource_slices.IsRunning());
  EXPECT_EQ(DeviceClassCondition(Status()), nullptr);
}

// Switched back to DevicePlugin, the class stays while any agent still
// serves DRA (claims on the nodes the rollout has not reached yet keep being
// allocated), and goes with the last one.
TEST_F(DraReconcilerTest, SwitchedBackTheDeviceClassStaysUntilNoAgentServesDra) {
  client_.Add(api::DevicePools(), DraPoolObject(kPool));
  Converge();
  client_.Add(kube::resources::Pods(), AgentPodObject("agent-1", "node-1", Revision(), true));
  Json pool = Get(api::DevicePools(), "", kPool);
  pool["spec"]["allocationAPI"] = "DevicePlugin";
  client_.Add(api::DevicePools(), pool);
  Converge();
  EXPECT_FALSE(DeviceClass().is_null()) << "an agent still serves DRA";
  EXPECT_EQ(DeviceClassCondition(Status())->status, api::ConditionStatus::kTrue);

  // The rollout replaced the agent with a device plugin one.
  client_.Add(kube::resources::Pods(), AgentPodObject("agent-1", "node-1", Revision(), false));
  events_.Take();
  Converge();
  EXPECT_TRUE(DeviceClass().is_null());
  EXPECT_EQ(CountPrefix(events_.Take(), "Normal custom-device Deleted: deleted deviceclasses " +
                                            api::DraDriverName(kPool)),
            1u);
  const api::DevicePoolStatus st = Status();
  ASSERT_NE(DeviceClassCondition(st), nullptr);
  EXPECT_EQ(DeviceClassCondition(st)->status, api::ConditionStatus::kFalse);
  EXPECT_EQ(DeviceClassCondition(st)->reason, "DevicePlugin");
}

TEST_F(DraReconcilerTest, ANodeServingDraCountsOnceItsResourceSliceIsPublished) {
  client_.Add(api::DevicePools(), DraPoolObject(kPool));
  Converge();
  client_.Add(kube::resources::Pods(), AgentPodObject("agent-1", "node-1", Revision(), true));
  client_.Add(api::DevicePoolNodes(), {{"apiVersion", std::string(api::kApiVersion)},
                                       {"kind", std::string(api::kDevicePoolNodeKind)},
                                       {"metadata", {{"name", "custom-device.node-1"}}},
                                       {"spec", {{"pool", kPool}, {"node", "node-1"}}},
                                       {"status",
                                        {{"registered", true},
                                         {"agentRevision", Revision()},
                                         {"counts", {{"total", 4}, {"healthy", 4}, {"allocated", 0}}}}}});
  Converge();
  api::DevicePoolStatus st = Status();
  EXPECT_EQ(st.nodes.registered, 0);
  ASSERT_EQ(st.problem_nodes.size(), 1u);
  EXPECT_EQ(st.problem_nodes[0].reason, "ResourceNotAdvertised");

  // Another driver's slice on the node, and an older generation of ours,
  // do not count.
  auto slice = [](const std::string& name, const std::string& driver, int generation, int devices) {
    Json d = Json::array();
    for (int i = 0; i < devices; ++i) d.push_back({{"name", "dev-" + std::to_string(i)}});
    return Json{{"apiVersion", "resource.k8s.io/v1"},
                {"kind", "ResourceSlice"},
                {"metadata", {{"name", name}}},
                {"spec",
                 {{"driver", driver},
                  {"nodeName", "node-1"},
                  {"pool", {{"name", "node-1"}, {"generation", generation}, {"resourceSliceCount", 1}}},
                  {"devices", d}}}};
  };
  client_.Add(ResourceSlices(), slice("other", "gpu.example.com", 1, 8));
  Converge();
  EXPECT_EQ(Status().nodes.registered, 0);
  client_.Add(ResourceSlices(), slice("old", api::DraDriverName(kPool), 1, 2));
  client_.Add(ResourceSlices(), slice("new", api::DraDriverName(kPool), 2, 4));
  Converge();
  st = Status();
  EXPECT_EQ(st.nodes.registered, 1);
  EXPECT_TRUE(st.problem_nodes.empty()) << st.problem_nodes[0].message;
  ASSERT_NE(informers_->resource_slices.Synced(), nullptr);
  EXPECT_EQ(PublishedDevices(*informers_->resource_slices.Synced(), api::DraDriverName(kPool), "node-1"), 4);
  EXPECT_EQ(PublishedDevices(*informers_->resource_slices.Synced(), api::DraDriverName(kPool), "node-2"),
            std::nullopt);
}

// A ResourceClaim cached as where its devices are, nothing more.
TEST(ResourceClaimEntryTest, KeepsTheClaimsIdentityAndWhereItsDevicesAre) {
  Json claim = {{"apiVersion", "resource.k8s.io/v1"},
                {"kind", "ResourceClaim"},
                {"metadata",
                 {{"name", "pod-dev-x7"},
                  {"namespace", "apps"},
                  {"uid", "u-1"},
                  {"resourceVersion", "42"},
                  {"labels", {{"a", "b"}}},
                  {"annotations", {{"c", "d"}}},
                  {"ownerReferences", Json::array({{{"kind", "Pod"}, {"name", "pod"}, {"uid", "p-1"}}})}}},
                {"spec", {{"devices", {{"requests", Json::array({{{"name", "dev"}}})}}}}},
                {"status",
                 {{"allocation",
                   {{"devices",
                     {{"results", Json::array({{{"request", "dev"},
                                                {"driver", "custom-device.devicepool.hashfoundry.com"},
                                                {"pool", "node-1"},
                                                {"device", "hashfoundry-device-2"}},
                                               {{"request", "dev"},
                                                {"driver", "gpu.example.com"},
                                                {"pool", "node-1"},
                                                {"device", "gpu-0"},
                                                {"adminAccess", true}}})},
                      {"config", Json::array()}}},
                    {"nodeSelector", Json::object()}}},
                  {"reservedFor", Json::array({{{"resource", "pods"}, {"name", "pod"}, {"uid", "p-1"}}})}}}};
  auto e = DecodeResourceClaimEntry(std::move(claim));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->metadata.Key(), "apps/pod-dev-x7");
  EXPECT_EQ(e->metadata.uid, "u-1");
  EXPECT_TRUE(e->metadata.labels.empty());
  EXPECT_TRUE(e->metadata.annotations.empty());
  EXPECT_TRUE(e->metadata.owner_references.empty());
  EXPECT_TRUE(e->metadata.resource_version.empty());
  EXPECT_EQ(e->devices, (std::vector<ResourceClaimEntry::Device>{
                            {"custom-device.devicepool.hashfoundry.com", "node-1", "hashfoundry-device-2"},
                            {"gpu.example.com", "node-1", "gpu-0"}}));

  // Not allocated yet (or any more): no devices. No name: not a claim.
  auto pending = DecodeResourceClaimEntry(
      Json{{"metadata", {{"name", "c"}, {"namespace", "apps"}}}, {"status", {{"allocation", nullptr}}}});
  ASSERT_TRUE(pending.has_value());
  EXPECT_TRUE(pending->devices.empty());
  EXPECT_FALSE(DecodeResourceClaimEntry(Json{{"metadata", Json::object()}}).has_value());
}

// What a claim looks like once the scheduler allocated `devices` (of the
// pool's driver unless they say "driver/device") on `node`.
Json ClaimObject(const std::string& name, const std::string& node, const std::vector<std::string>& devices) {
  Json results = Json::array();
  for (const auto& d : devices) {
    const auto slash = d.find('/');
    results.push_back({{"request", "dev"},
                       {"driver", slash == std::string::npos ? api::DraDriverName(kPool) : d.substr(0, slash)},
                       {"pool", node},
                       {"device", slash == std::string::npos ? d : d.substr(slash + 1)}});
  }
  return {{"apiVersion", "resource.k8s.io/v1"},
          {"kind", "ResourceClaim"},
          {"metadata", {{"name", name}, {"namespace", "apps"}}},
          {"status", {{"allocation", {{"devices", {{"results", results}}}}}}}};
}

// node-1's slice of the pool's driver: `count` devices dev-<i>, those in
// `held` tainted as held through the device plugin API, those in
// `unhealthy` tainted unhealthy.
Json SliceObject(int count, const std::set<int>& held, const std::set<int>& unhealthy = {}) {
  Json d = Json::array();
  for (int i = 0; i < count; ++i) {
    Json dev = {{"name", "dev-" + std::to_string(i)}};
    Json taints = Json::array();
    if (unhealthy.count(i)) taints.push_back({{"key", api::kUnhealthyTaintKey}, {"effect", "NoSchedule"}});
    if (held.count(i)) taints.push_back({{"key", api::kDevicePluginAllocatedTaintKey}, {"effect", "NoSchedule"}});
    if (!taints.empty()) dev["taints"] = taints;
    d.push_back(dev);
  }
  return {{"apiVersion", "resource.k8s.io/v1"},
          {"kind", "ResourceSlice"},
          {"metadata", {{"name", std::string(kPool) + ".node-1"}}},
          {"spec",
           {{"driver", api::DraDriverName(kPool)},
            {"nodeName", "node-1"},
            {"pool", {{"name", "node-1"}, {"generation", 1}, {"resourceSliceCount", 1}}},
            {"devices", d}}}};
}

Json ReportObject(const std::string& revision, int allocated) {
  return {{"apiVersion", std::string(api::kApiVersion)},
          {"kind", std::string(api::kDevicePoolNodeKind)},
          {"metadata", {{"name", "custom-device.node-1"}}},
          {"spec", {{"pool", kPool}, {"node", "node-1"}}},
          {"status",
           {{"registered", true},
            {"agentRevision", revision},
            {"counts", {{"total", 4}, {"healthy", 4}, {"allocated", allocated}}}}}};
}

// A node whose agent serves DRA counts as allocated the devices claims hold
// there and those its slice marks as held through the device plugin API,
// each once; not the agent's report.
TEST_F(DraReconcilerTest, ADraNodeCountsTheDevicesClaimsAndTheDevicePluginHold) {
  client_.Add(api::DevicePools(), DraPoolObject(kPool));
  Converge();
  client_.Add(kube::resources::Pods(), AgentPodObject("agent-1", "node-1", Revision(), true));
  client_.Add(api::DevicePoolNodes(), ReportObject(Revision(), 1));
  Converge();
  EXPECT_EQ(Status().devices.allocated, 1) << "no slice yet: the report";

  client_.Add(ResourceSlices(), SliceObject(4, {3}));
  client_.Add(ResourceClaims(), ClaimObject("a", "node-1", {"dev-0", "dev-1"}));
  // Tolerates the taint: dev-3 counts once.
  client_.Add(ResourceClaims(), ClaimObject("b", "node-1", {"dev-3"}));
  // Elsewhere, or another driver's: not this node's.
  client_.Add(ResourceClaims(), ClaimObject("c", "node-2", {"dev-2"}));
  client_.Add(ResourceClaims(), ClaimObject("d", "node-1", {"gpu.example.com/dev-2"}));
  Converge();
  EXPECT_EQ(Status().devices.allocated, 3);
  ASSERT_NE(informers_->resource_claims.Synced(), nullptr);
  const ClaimedDevices claimed = ClaimedOn(*informers_->resource_claims.Synced(), api::DraDriverName(kPool), "node-1");
  EXPECT_EQ(claimed.claims, (std::vector<std::string>{"apps/a", "apps/b"}));
  EXPECT_EQ(claimed.devices, (std::set<std::string>{"dev-0", "dev-1", "dev-3"}));

  ASSERT_TRUE(client_.Delete(ResourceClaims(), "apps", "a").ok());
  Converge();
  EXPECT_EQ(Status().devices.allocated, 1);
}

// A node whose agent serves DRA counts the devices its slices publish, and
// as healthy those not tainted unhealthy; not the agent's report, which may
// lag behind.
TEST_F(DraReconcilerTest, ADraNodeCountsTheDevicesItsSlicesPublish) {
  client_.Add(api::DevicePools(), DraPoolObject(kPool));
  Converge();
  client_.Add(kube::resources::Pods(), AgentPodObject("agent-1", "node-1", Revision(), true));
  client_.Add(api::DevicePoolNodes(), ReportObject(Revision(), 0));
  Converge();
  EXPECT_EQ(Status().devices, (api::DeviceCounts{4, 4, 0})) << "no slice yet: the report";

  client_.Add(ResourceSlices(), SliceObject(6, {}, {1, 4}));
  Converge();
  EXPECT_EQ(Status().devices, (api::DeviceCounts{6, 4, 0}));
  ASSERT_EQ(Status().problem_nodes.size(), 1u);
  EXPECT_NE(Status().problem_nodes[0].message.find("2 of 6 devices unhealthy"), std::string::npos)
      << Status().problem_nodes[0].message;

  ASSERT_TRUE(client_.Delete(ResourceSlices(), "", std::string(kPool) + ".node-1").ok());
  client_.Add(ResourceSlices(), SliceObject(6, {}, {}));
  Converge();
  EXPECT_EQ(Status().devices, (api::DeviceCounts{6, 6, 0}));
  EXPECT_TRUE(Status().problem_nodes.empty());
}

// Switched back to DevicePlugin: the DRA agent of a node where a claim
// holds a device is not replaced, the rollout says why, and once the claim
// is gone it is.
TEST_F(DraReconcilerTest, ASwitchBackKeepsTheDraAgentOfANodeWithClaims) {
  client_.Add(api::DevicePools(), DraPoolObject(kPool));
  Converge();
  const std::string dra = Revision();
  client_.Add(kube::resources::Pods(), AgentPodObject("agent-1", "node-1", dra, true));
  client_.Add(api::DevicePoolNodes(), ReportObject(dra, 1));
  client_.Add(ResourceSlices(), SliceObject(4, {}));
  client_.Add(ResourceClaims(), ClaimObject("a", "node-1", {"dev-0"}));
  Converge();
  Json pool = Get(api::DevicePools(), "", kPool);
  pool["spec"]["allocationAPI"] = "DevicePlugin";
  pool["spec"]["rollout"] = {{"canary", {{"bakeTime", "0s"}}}};
  client_.Add(api::DevicePools(), pool);
  Converge();
  // The DaemonSet controller took the new template.
  Json ds = Get(kube::resources::DaemonSets(), kNs, ChildName(kPool));
  ASSERT_NE(Revision(), dra);
  ds["status"] = {{"observedGeneration", ds["metadata"]["generation"]}};
  client_.Add(kube::resources::DaemonSets(), ds);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Reconcile().ok());
  EXPECT_FALSE(Get(kube::resources::Pods(), kNs, "agent-1").is_null()) << "replaced while a claim holds a device";
  api::DevicePoolStatus st = Status();
  EXPECT_NE(st.rollout.message.find("node node-1: 1 ResourceClaim holds devices of driver " +
                                    api::DraDriverName(kPool)),
            std::string::npos)
      << st.rollout.message;
  const api::Condition* progressing = Find(st, api::kConditionProgressing);
  ASSERT_NE(progressing, nullptr);
  EXPECT_NE(progressing->message.find("node node-1: 1 ResourceClaim holds devices"), std::string::npos)
      << progressing->message;
  EXPECT_FALSE(DeviceClass().is_null()) << "the DRA agent still serves";

  ASSERT_TRUE(client_.Delete(ResourceClaims(), "apps", "a").ok());
  ASSERT_TRUE(Reconcile().ok());
  EXPECT_TRUE(Get(kube::resources::Pods(), kNs, "agent-1").is_null()) << "the claim is gone: replaced";
}

// A deleted DRA pool: its DeviceClass goes at once; its labels (so its
// agents) stay while a claim holds one of its devices on an existing node,
// for as long as that takes, and the status and an Event say so; then the
// agents get their usual while to stop.
TEST_F(DraReconcilerTest, ADeletedDraPoolKeepsItsAgentsUntilNoClaimHoldsItsDevices) {
  client_.Add(api::DevicePools(), DraPoolObject(kPool));
  Converge();
  client_.Add(kube::resources::Pods(), AgentPodObject("agent-1", "node-1", Revision(), true));
  client_.Add(ResourceClaims(), ClaimObject("a", "node-1", {"dev-0"}));
  client_.Add(ResourceClaims(), ClaimObject("gone", "node-9", {"dev-0"}));  // its Node no longer exists
  client_.Add(ResourceClaims(), ClaimObject("other", "node-1", {"gpu.example.com/gpu-0"}));
  Converge();
  ASSERT_FALSE(DeviceClass().is_null());
  events_.Take();
  ASSERT_TRUE(client_.Delete(api::DevicePools(), "", kPool).ok());

  auto r = Reconcile();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(DeviceClass().is_null()) << "the DeviceClass goes first";
  EXPECT_EQ(Label("node-1"), "enabled") << "the agents stay while a claim holds a device";
  EXPECT_FALSE(Get(api::DevicePools(), "", kPool).is_null());
  api::DevicePoolStatus st = Status();
  const api::Condition* progressing = Find(st, api::kConditionProgressing);
  ASSERT_NE(progressing, nullptr);
  EXPECT_EQ(progressing->reason, "WaitingForClaims");
  EXPECT_NE(progressing->message.find("1 ResourceClaim holding devices of driver " + api::DraDriverName(kPool) +
                                      " are released (delete the pods that use them): apps/a"),
            std::string::npos)
      << progressing->message;
  auto events = events_.Take();
  EXPECT_EQ(CountPrefix(events, "Normal custom-device Deleted: deleted deviceclasses"), 1u);
  EXPECT_EQ(CountPrefix(events, "Normal custom-device WaitingForClaims: the pool is being deleted"), 1u);

  // However long it takes.
  clock_.Step(10min);
  client_.ClearActions();
  ASSERT_TRUE(Reconcile().ok());
  EXPECT_EQ(Label("node-1"), "enabled");
  EXPECT_EQ(client_.Writes(), std::vector<std::string>{}) << "nothing new: no write";
  EXPECT_TRUE(events_.Take().empty());

  // The pod went, the claim with it: the agents stop, with their usual while.
  ASSERT_TRUE(client_.Delete(ResourceClaims(), "apps", "a").ok());
  r = Reconcile();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Label("node-1"), "");
  EXPECT_EQ(r->requeue_after, 2s) << "the agent still runs; its while starts now, not at the deletion";
  st = Status();
  EXPECT_EQ(Find(st, api::kConditionProgressing)->reason, "AgentsStopping");
  ASSERT_TRUE(Reconcile().ok());
  EXPECT_FALSE(Get(api::DevicePools(), "", kPool).is_null());
  clock_.Step(61s);
  ASSERT_TRUE(Reconcile().ok());
  EXPECT_TRUE(Get(api::DevicePools(), "", kPool).is_null()) << "finalizer released";
}

TEST_F(DraReconcilerTest, WithoutResourceK8sIoADraPoolIsDegradedNotFailing) {
  discovery_.Serve(DeviceClasses(), false);
  client_.Add(api::DevicePools(), DraPoolObject(kPool));
  Converge();
  EXPECT_TRUE(DeviceClass().is_null());
  EXPECT_FALSE(informers_->device_classes.IsRunning());
  const api::DevicePoolStatus st = Status();
  ASSERT_NE(DeviceClassCondition(st), nullptr);
  EXPECT_EQ(DeviceClassCondition(st)->reason, "DRANotServed");
  const api::Condition* degraded = Find(st, api::kConditionDegraded);
  ASSERT_NE(degraded, nullptr);
  EXPECT_EQ(degraded->reason, "DRANotServed");
  EXPECT_EQ(CountPrefix(events_.Take(), "Warning"), 0u);
}

}  // namespace
}  // namespace hf::controller
