// The managed agent rollout on the real control plane: sim-kubelet runs each
// agent "image" from its own executables (tests/e2e/images stand in for
// broken builds), the DaemonSet controller recreates deleted agent pods, and
// the kubelet's own device manager decides what the Node advertises. Every
// assertion reads what the cluster recorded: pods, the pool's status, Events.
#include <gmock/gmock.h>

#include "operator/desired.h"
#include "tests/e2e/e2e_fixture.h"

namespace hf::e2e {
namespace {

using ::testing::HasSubstr;

constexpr char kGoodImage[] = "hashfoundry/devicepool-agent:v2";
constexpr char kNextImage[] = "hashfoundry/devicepool-agent:v3";

class RolloutTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (HasFatalFailure()) return;
    // Four nodes at least: a canary and waves after it.
    StartNode(release_ + "-node-4");
    ASSERT_TRUE(Eventually([&] { return ReadyNodes() == kNodes + 1; }, seconds(60))) << Logs();
  }

  // Sets spec.rollout (merged) and, if given, the agent image.
  void PatchPool(const Json& rollout, const std::string& image = "") {
    Json patch = {{"spec", {{"rollout", rollout}}}};
    if (!image.empty()) patch["spec"]["agent"]["image"] = image;
    auto r = client_->Patch(api::DevicePools(), "", kPool, kube::PatchType::kMerge, patch.dump());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  Json Rollout() { return At(Get(api::DevicePools(), "", kPool), {"status", "rollout"}); }
  std::string Phase() { return StringAt(Get(api::DevicePools(), "", kPool), {"status", "rollout", "phase"}); }

  // node -> the image of its live agent pod.
  std::map<std::string, std::string> AgentImages() {
    std::map<std::string, std::string> out;
    for (const auto& p : List(kube::resources::Pods(), release_, std::string(api::kPoolLabel) + "=" + kPool)) {
      // Not yet bound by the scheduler: on no node so far.
      if (!At(p, {"metadata", "deletionTimestamp"}).is_null() || StringAt(p, {"spec", "nodeName"}).empty()) continue;
      out[StringAt(p, {"spec", "nodeName"})] = StringAt(p, {"spec", "containers", "0", "image"});
    }
    return out;
  }

  // Nodes whose agent is down now: no live pod, or one that is not Ready.
  int AgentsDown() {
    std::set<std::string> up;
    for (const auto& p : List(kube::resources::Pods(), release_, std::string(api::kPoolLabel) + "=" + kPool)) {
      if (!At(p, {"metadata", "deletionTimestamp"}).is_null()) continue;
      Json conds = At(p, {"status", "conditions"});
      if (!conds.is_array()) continue;
      for (const auto& c : conds) {
        if (c["type"] == "Ready" && c["status"] == "True") up.insert(StringAt(p, {"spec", "nodeName"}));
      }
    }
    return static_cast<int>(nodes_.size() - up.size());
  }

  // Polls until `done` holds, calling `watch` on every look; false at the limit.
  bool Follow(const std::function<bool()>& done, const std::function<void()>& watch, seconds limit) {
    return Eventually(
        [&] {
          watch();
          return done();
        },
        limit, std::chrono::milliseconds(100));
  }

  // This pool's Events of `reason` (earlier tests' pools had the same name).
  std::vector<Json> RolloutEvents(const std::string& reason) {
    std::vector<Json> out;
    const std::string uid = StringAt(Get(api::DevicePools(), "", kPool), {"metadata", "uid"});
    kube::ListOptions lo;
    lo.field_selector = "regarding.name=" + std::string(kPool);
    auto page = client_->List(kube::GroupVersionResource{"events.k8s.io", "v1", "events", true}, "default", lo);
    if (!page.ok()) return out;
    for (const auto& e : page->items) {
      if (StringAt(e, {"reason"}) == reason && StringAt(e, {"regarding", "uid"}) == uid) out.push_back(e);
    }
    return out;
  }

  void WaitAllAgentsReady() {
    ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
    ASSERT_TRUE(Eventually([&] { return AgentsDown() == 0 && AgentImages().size() == nodes_.size(); }, seconds(120)))
        << Logs();
  }

  std::string RestartOperator(int signal) {
    op_->Signal(signal);
    (void)op_->Wait();
    return StartOperator();
  }
};

TEST_F(RolloutTest, AGoodTemplateGoesCanaryFirstThenWavesAndRunningPodsKeepTheirDevices) {
  ASSERT_NO_FATAL_FAILURE(PatchPool({{"canary", {{"nodes", 1}, {"bakeTime", "4s"}}}, {"maxUnavailable", 2}}));
  ASSERT_NO_FATAL_FAILURE(WaitAllAgentsReady());
  ASSERT_NO_FATAL_FAILURE(ApplySeedWorkloads());
  std::map<std::string, Json> workloads;  // pod -> its allocation, as sim-kubelet recorded it
  ASSERT_TRUE(Eventually(
      [&] {
        workloads.clear();
        for (const auto& p : List(kube::resources::Pods(), kSeedNamespace, "")) {
          if (StringAt(p, {"status", "phase"}) != "Running") return false;
          std::string rec = StringAt(p, {"metadata", "annotations", kAllocationAnnotation});
          if (rec.empty()) return false;
          workloads[StringAt(p, {"metadata", "name"})] = Json::parse(rec);
        }
        return workloads.size() == 4;
      },
      seconds(120)))
      << Logs();
  // The canary is a node with the fewest allocated devices.
  std::map<std::string, int> allocated;
  for (const auto& n : nodes_) allocated[n.name] = 0;
  ASSERT_TRUE(Eventually(
      [&] {
        int sum = 0;
        for (const auto& r : List(api::DevicePoolNodes(), "", std::string(api::kPoolLabel) + "=" + kPool)) {
          int a = At(r, {"status", "counts", "allocated"}).get<int>();
          allocated[StringAt(r, {"spec", "node"})] = a;
          sum += a;
        }
        return sum == 5;  // single 1, multi 2, the Deployment 2 x 1
      },
      seconds(60)));
  int fewest = std::min_element(allocated.begin(), allocated.end(), [](auto& a, auto& b) {
                 return a.second < b.second;
               })->second;
  const std::string old_rev = StringAt(Rollout(), {"currentRevision"});
  ASSERT_FALSE(old_rev.empty()) << Rollout().dump();
  Json ds = Get(kube::resources::DaemonSets(), release_, controller::ChildName(kPool));
  EXPECT_EQ(StringAt(ds, {"spec", "updateStrategy", "type"}), "OnDelete") << "Managed replaces the agents itself";

  InstallAgentImage(kGoodImage);
  ASSERT_NO_FATAL_FAILURE(PatchPool(Json::object(), kGoodImage));

  // Follow the rollout as the cluster shows it: which node got the new
  // agent in which order, and how many agents were down at once.
  std::vector<std::string> order;
  int max_down = 0;
  bool canary_alone = true;
  std::string canary_ready_at;  // when the canary's new pod became Ready
  ASSERT_TRUE(Follow(
      [&] { return Phase() == "Complete" && StringAt(Rollout(), {"currentRevision"}) != old_rev; },
      [&] {
        max_down = std::max(max_down, AgentsDown());
        for (const auto& [node, image] : AgentImages()) {
          if (image == kGoodImage && std::find(order.begin(), order.end(), node) == order.end()) {
            order.push_back(node);
          }
        }
        if (order.size() == 1 && canary_ready_at.empty()) {
          Json pod = AgentPod(order[0]);
          Json conds = At(pod, {"status", "conditions"});
          if (conds.is_array()) {
            for (const auto& c : conds) {
              if (c["type"] == "Ready" && c["status"] == "True") canary_ready_at = c["lastTransitionTime"];
            }
          }
        }
        // While the canary bakes, no other node moves.
        if (order.size() > 1 && canary_ready_at.empty()) canary_alone = false;
      },
      seconds(240)))
      << Rollout().dump(2) << Logs();

  ASSERT_EQ(order.size(), nodes_.size());
  EXPECT_EQ(allocated[order[0]], fewest) << "canary " << order[0];
  EXPECT_TRUE(canary_alone);
  EXPECT_LE(max_down, 2) << "maxUnavailable is 2";
  EXPECT_GE(max_down, 1);
  // The first wave came after the canary baked: its pods are younger than
  // the canary's Ready transition plus the bake time.
  std::chrono::system_clock::time_point ready_at;
  ASSERT_TRUE(kube::ParseRfc3339(canary_ready_at, &ready_at)) << canary_ready_at;
  for (size_t i = 1; i < order.size(); ++i) {
    std::chrono::system_clock::time_point created;
    ASSERT_TRUE(kube::ParseRfc3339(StringAt(AgentPod(order[i]), {"metadata", "creationTimestamp"}), &created));
    EXPECT_GE(created, ready_at + seconds(4) - seconds(1)) << order[i];
  }
  Json st = Rollout();
  EXPECT_EQ(st["updatedNodes"], static_cast<int>(nodes_.size()));
  EXPECT_FALSE(StringAt(st, {"completionTime"}).empty());
  // Each new agent reports its own revision.
  for (const auto& r : List(api::DevicePoolNodes(), "", std::string(api::kPoolLabel) + "=" + kPool)) {
    EXPECT_EQ(StringAt(r, {"status", "agentRevision"}), StringAt(st, {"currentRevision"}));
  }
  EXPECT_FALSE(RolloutEvents("CanaryPassed").empty());
  EXPECT_FALSE(RolloutEvents("RolloutComplete").empty());
  // kubectl wait sees the end of the rollout.
  auto k = Kubectl({"wait", "--for=jsonpath={.status.rollout.phase}=Complete", std::string("devicepool/") + kPool,
                    "--timeout=10s"});
  EXPECT_EQ(k.exit_code, 0) << k.output;
  k = Kubectl({"wait", "--for=condition=Progressing=False", std::string("devicepool/") + kPool, "--timeout=30s"});
  EXPECT_EQ(k.exit_code, 0) << k.output;

  // Pods holding devices kept them: same pod, same devices, never restarted.
  for (const auto& p : List(kube::resources::Pods(), kSeedNamespace, "")) {
    const std::string name = StringAt(p, {"metadata", "name"});
    SCOPED_TRACE(name);
    ASSERT_TRUE(workloads.count(name)) << "a workload pod was replaced";
    EXPECT_EQ(StringAt(p, {"status", "phase"}), "Running");
    EXPECT_EQ(Json::parse(StringAt(p, {"metadata", "annotations", kAllocationAnnotation})), workloads[name]);
    EXPECT_EQ(At(p, {"status", "containerStatuses", "0", "restartCount"}), 0);
  }
}

struct BadBuild {
  const char* name;
  const char* script;
  const char* gate;
};

void PrintTo(const BadBuild& b, std::ostream* os) { *os << b.name; }

class BadAgentTest : public RolloutTest, public ::testing::WithParamInterface<BadBuild> {
 protected:
  void TearDown() override {
    RolloutTest::TearDown();
    // agent-never-registers.sh's stand-in kubelet directories.
    for (const auto& n : nodes_) fs::remove_all("/tmp/hf-agent-never-registers-" + n.name);
  }
};

TEST_P(BadAgentTest, StopsAtTheCanaryRollsBackAndNeverRetries) {
  ASSERT_NO_FATAL_FAILURE(PatchPool(
      {{"canary", {{"nodes", 1}, {"bakeTime", "2s"}}}, {"maxUnavailable", 2}, {"progressDeadline", "20s"}}));
  ASSERT_NO_FATAL_FAILURE(WaitAllAgentsReady());
  const std::string good_rev = StringAt(Rollout(), {"currentRevision"});
  const std::string bad_image = std::string("hashfoundry/devicepool-agent:") + GetParam().name;
  InstallAgentImage(bad_image, GetParam().script);
  ASSERT_NO_FATAL_FAILURE(PatchPool(Json::object(), bad_image));

  std::set<std::string> ran_bad;
  ASSERT_TRUE(Follow(
      [&] { return Phase() == "RolledBack" && !StringAt(Rollout(), {"completionTime"}).empty(); },
      [&] {
        for (const auto& [node, image] : AgentImages()) {
          if (image == bad_image) ran_bad.insert(node);
        }
      },
      seconds(180)))
      << Rollout().dump(2) << Logs();

  Json st = Rollout();
  ASSERT_EQ(ran_bad.size(), 1u) << "only the canary may ever run the bad build";
  const std::string canary = *ran_bad.begin();
  EXPECT_EQ(StringAt(st, {"currentRevision"}), good_rev);
  EXPECT_FALSE(StringAt(st, {"failedRevision"}).empty());
  EXPECT_NE(StringAt(st, {"failedRevision"}), good_rev);
  EXPECT_EQ(StringAt(st, {"failed", "0", "node"}), canary) << st.dump(2);
  EXPECT_EQ(StringAt(st, {"failed", "0", "gate"}), GetParam().gate) << st.dump(2);
  // The pool's conditions and Events name the node and the gate.
  Json pool = Get(api::DevicePools(), "", kPool);
  std::string degraded;
  for (const auto& c : At(pool, {"status", "conditions"})) {
    if (c["type"] == "Degraded") degraded = c["reason"].get<std::string>() + ": " + c["message"].get<std::string>();
  }
  EXPECT_THAT(degraded, HasSubstr("RolledBack"));
  EXPECT_THAT(degraded, HasSubstr(canary));
  EXPECT_THAT(degraded, HasSubstr(GetParam().gate));
  auto failed = RolloutEvents("RolloutFailed");
  ASSERT_FALSE(failed.empty());
  EXPECT_THAT(StringAt(failed[0], {"note"}), HasSubstr(canary));
  EXPECT_THAT(StringAt(failed[0], {"note"}), HasSubstr(GetParam().gate));
  EXPECT_FALSE(RolloutEvents("RolledBack").empty());

  // Every node back on the last good agent, and the pool serves.
  for (const auto& [node, image] : AgentImages()) EXPECT_NE(image, bad_image) << node;
  ASSERT_NO_FATAL_FAILURE(WaitAllAgentsReady());
  // The failed revision is not tried again while the spec asks for it.
  EXPECT_FALSE(Eventually(
      [&] {
        for (const auto& [node, image] : AgentImages()) {
          if (image == bad_image) return true;
        }
        return false;
      },
      seconds(10), std::chrono::milliseconds(200)));
  EXPECT_EQ(Phase(), "RolledBack");
}

INSTANTIATE_TEST_SUITE_P(Builds, BadAgentTest,
                         ::testing::Values(BadBuild{"exits", "agent-exits.sh", "AgentRunning"},
                                           BadBuild{"never-registers", "agent-never-registers.sh", "Registered"},
                                           BadBuild{"unhealthy", "agent-unhealthy.sh", "DevicesHealthy"}),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

TEST_F(RolloutTest, PausedHoldsARetargetRestartsTheCanaryAndAKilledOperatorResumes) {
  ASSERT_NO_FATAL_FAILURE(
      PatchPool({{"canary", {{"nodes", 1}, {"bakeTime", "3s"}}}, {"maxUnavailable", 1}, {"paused", true}}));
  ASSERT_NO_FATAL_FAILURE(WaitAllAgentsReady());
  InstallAgentImage(kGoodImage);
  InstallAgentImage(kNextImage);
  ASSERT_NO_FATAL_FAILURE(PatchPool(Json::object(), kGoodImage));
  ASSERT_TRUE(Eventually([&] { return Phase() == "Paused"; }, seconds(30))) << Rollout().dump(2);
  // Paused: no agent is replaced.
  EXPECT_FALSE(Eventually(
      [&] {
        for (const auto& [node, image] : AgentImages()) {
          if (image == kGoodImage) return true;
        }
        return false;
      },
      seconds(5), std::chrono::milliseconds(200)));

  ASSERT_NO_FATAL_FAILURE(PatchPool({{"paused", false}}));
  ASSERT_TRUE(Eventually(
      [&] {
        for (const auto& [node, image] : AgentImages()) {
          if (image == kGoodImage) return true;
        }
        return false;
      },
      seconds(60)))
      << Rollout().dump(2);
  // Retarget mid-rollout: v3 starts again from a canary.
  const std::string v2_rev = StringAt(Rollout(), {"updateRevision"});
  ASSERT_NO_FATAL_FAILURE(PatchPool(Json::object(), kNextImage));
  ASSERT_TRUE(Eventually(
      [&] {
        Json st = Rollout();
        return StringAt(st, {"updateRevision"}) != v2_rev && StringAt(st, {"phase"}) == "Canary";
      },
      seconds(30)))
      << Rollout().dump(2);

  // Killed mid-rollout, once the waves have begun.
  ASSERT_TRUE(Eventually(
      [&] {
        int n = 0;
        for (const auto& [node, image] : AgentImages()) n += image == kNextImage ? 1 : 0;
        return n >= 2;
      },
      seconds(120)))
      << Rollout().dump(2) << Logs();
  ASSERT_FALSE(RestartOperator(SIGKILL).empty());

  int max_down = 0;
  ASSERT_TRUE(Follow([&] { return Phase() == "Complete"; }, [&] { max_down = std::max(max_down, AgentsDown()); },
                     seconds(240)))
      << Rollout().dump(2) << Logs();
  EXPECT_LE(max_down, 1) << "maxUnavailable is 1";
  for (const auto& [node, image] : AgentImages()) EXPECT_EQ(image, kNextImage) << node;
  ASSERT_NO_FATAL_FAILURE(WaitAllAgentsReady());
}

TEST_F(RolloutTest, RollingUpdateLeavesTheRolloutToTheDaemonSet) {
  ASSERT_NO_FATAL_FAILURE(PatchPool({{"strategy", "RollingUpdate"}, {"maxUnavailable", 2}}));
  ASSERT_NO_FATAL_FAILURE(WaitAllAgentsReady());
  Json ds = Get(kube::resources::DaemonSets(), release_, controller::ChildName(kPool));
  ASSERT_EQ(StringAt(ds, {"spec", "updateStrategy", "type"}), "RollingUpdate") << ds.dump();
  InstallAgentImage(kGoodImage);
  ASSERT_NO_FATAL_FAILURE(PatchPool(Json::object(), kGoodImage));
  ASSERT_TRUE(Eventually(
      [&] {
        auto images = AgentImages();
        if (images.size() != nodes_.size()) return false;
        for (const auto& [node, image] : images) {
          if (image != kGoodImage) return false;
        }
        return Phase() == "Complete";
      },
      seconds(180)))
      << Rollout().dump(2) << Logs();
  ASSERT_NO_FATAL_FAILURE(WaitAllAgentsReady());
  EXPECT_TRUE(RolloutEvents("AgentsReplaced").empty()) << "the operator replaced agents itself";
}

}  // namespace
}  // namespace hf::e2e
