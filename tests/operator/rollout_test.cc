#include "operator/rollout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace hf::controller {
namespace {

using api::RolloutPhase;
using std::chrono::seconds;

const auto kStart = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600));
constexpr char kDriver[] = "pool.devicepool.hashfoundry.com";

// How an agent revision behaves once its pod runs on a node.
struct Behaviour {
  bool ready = true;
  bool registered = true;
  bool healthy = true;
  bool crashes = false;
  bool reports = true;  // writes its DevicePoolNode
  bool dra = false;      // serves DRA: its devices are in ResourceSlices, not the Node's allocatable
  bool publishes = true;  // (DRA) publishes its node's ResourceSlice
};

// A pool's nodes as the planner sees them, and what happens to them: a
// replaced node's pod comes back from the DaemonSet's template at the next
// step, then behaves as its revision does. Every decision is applied the
// way the reconciler applies it, and what the fleet went through is kept.
class Fleet {
 public:
  Fleet(int nodes, const std::string& revision, api::RolloutSpec spec = {}) : spec_(std::move(spec)) {
    for (int i = 0; i < nodes; ++i) {
      std::string name = "node-" + std::to_string(i);
      Run(name, revision);
      allocated_[name] = 0;
    }
    ds_revision_ = revision;
    status_.current_revision = revision;
    status_.update_revision = revision;
    behaviour_[revision] = {};
  }

  void SetAllocated(const std::string& node, int n) {
    allocated_[node] = n;
    nodes_[node].report->allocated = n;
  }
  void Define(const std::string& revision, Behaviour b) { behaviour_[revision] = b; }
  // The ResourceClaims holding devices on the node while its agent serves
  // DRA; nullopt: not listed yet.
  void SetClaims(const std::string& node, std::optional<int> n) {
    claims_[node] = n;
    if (nodes_[node].pod->dra) nodes_[node].claims = n;
  }
  void SetSpecRevision(const std::string& r) { spec_revision_ = r; }
  api::RolloutSpec& spec() { return spec_; }
  api::RolloutStatus& status() { return status_; }
  std::map<std::string, RolloutNodeView>& nodes() { return nodes_; }
  const std::vector<std::vector<std::string>>& steps() const { return replaced_; }
  std::set<std::string> EverRan(const std::string& revision) const {
    auto it = ran_.find(revision);
    return it == ran_.end() ? std::set<std::string>{} : it->second;
  }
  std::string RevisionOn(const std::string& node) { return nodes_[node].pod->revision; }
  std::vector<RolloutEvent>& events() { return events_; }
  std::string template_revision() const { return ds_revision_; }

  // One reconcile at now + `elapsed`; then the DaemonSet takes the pinned
  // template and recreates the deleted pods.
  RolloutDecision Step(seconds elapsed = seconds(1)) {
    now_ += elapsed;
    RolloutInput in{spec_, status_, spec_revision_, ds_revision_, true, nodes_, now_};
    for (const auto& [revision, b] : behaviour_) {
      if (b.dra) in.dra_revisions.insert(revision);
    }
    in.dra_driver = kDriver;
    RolloutDecision d = PlanRollout(in);
    status_ = d.status;
    events_.insert(events_.end(), d.events.begin(), d.events.end());
    if (ds_revision_ != d.template_revision) {
      ds_revision_ = d.template_revision;  // the reconciler applies it; next step sees it synced
      EXPECT_TRUE(d.replace.empty()) << "replaced before the DaemonSet took the template";
    }
    replaced_.push_back(d.replace);
    for (const auto& n : d.replace) Run(n, ds_revision_);
    return d;
  }

  // Steps until the rollout ends (or `max` steps), `every` apart.
  void RunToEnd(seconds every = seconds(5), int max = 200) {
    for (int i = 0; i < max; ++i) {
      Step(every);
      auto p = status_.phase;
      if ((p == RolloutPhase::kComplete || p == RolloutPhase::kFailed || p == RolloutPhase::kIdle ||
           (p == RolloutPhase::kRolledBack && !status_.completion_time.empty())) &&
          status_.nodes.empty()) {
        return;
      }
    }
  }

 private:
  void Run(const std::string& node, const std::string& revision) {
    const Behaviour& b = behaviour_[revision];
    RolloutNodeView& v = nodes_[node];
    v.pod = RolloutNodeView::Pod{revision, b.ready && !b.crashes, b.crashes ? 3 : 0, "", "", b.dra};
    // A device plugin that went away leaves its resource at 0 on the Node;
    // a DRA driver's slices are wiped once it is gone.
    v.allocatable = 0;
    v.published.reset();
    v.claims.reset();
    if (b.dra) v.claims = claims_.count(node) ? claims_[node] : 0;
    if (b.reports && !b.crashes) {
      int healthy = b.healthy ? 4 : 0;
      v.report = RolloutNodeView::Report{revision, b.registered, healthy, allocated_[node]};
      if (!b.dra) {
        v.allocatable = b.registered ? healthy : 0;
      } else if (b.publishes) {
        v.published = b.registered ? healthy : 0;
      }
    }
    ran_[revision].insert(node);
  }

  api::RolloutSpec spec_;
  api::RolloutStatus status_;
  std::string spec_revision_;
  std::string ds_revision_;
  std::map<std::string, RolloutNodeView> nodes_;
  std::map<std::string, int> allocated_;
  std::map<std::string, std::optional<int>> claims_;  // 0 unless set
  std::map<std::string, Behaviour> behaviour_;
  std::map<std::string, std::set<std::string>> ran_;
  std::vector<std::vector<std::string>> replaced_;
  std::vector<RolloutEvent> events_;
  std::chrono::system_clock::time_point now_ = kStart;
};

api::RolloutSpec Spec(int canary, int max_unavailable, const std::string& bake = "30s") {
  api::RolloutSpec s;
  s.canary.nodes = {canary, false};
  s.canary.bake_time = bake;
  s.max_unavailable = {max_unavailable, false};
  s.progress_deadline = "60s";
  return s;
}

bool HasEvent(const std::vector<RolloutEvent>& events, const std::string& reason) {
  return std::any_of(events.begin(), events.end(), [&](const RolloutEvent& e) { return e.reason == reason; });
}

TEST(ResolveCount, IntsAndPercentsRoundUpAndStayInRange) {
  EXPECT_EQ(ResolveCount({1, false}, 10), 1);
  EXPECT_EQ(ResolveCount({25, true}, 10), 3);
  EXPECT_EQ(ResolveCount({1, true}, 10), 1);
  EXPECT_EQ(ResolveCount({100, true}, 10), 10);
  EXPECT_EQ(ResolveCount({50, false}, 10), 10);
  EXPECT_EQ(ResolveCount({3, false}, 0), 1);
}

TEST(PlanRollout, NewPoolIsIdleAndReplacesNothing) {
  RolloutInput in;
  in.spec_revision = "aaa";
  in.daemon_set_synced = true;
  in.now = kStart;
  auto d = PlanRollout(in);
  EXPECT_EQ(d.status.phase, RolloutPhase::kIdle);
  EXPECT_EQ(d.status.current_revision, "aaa");
  EXPECT_EQ(d.template_revision, "aaa");
  EXPECT_TRUE(d.replace.empty());
}

TEST(PlanRollout, AGoodRevisionGoesCanaryFirstThenWavesWithinMaxUnavailable) {
  Fleet f(6, "old", Spec(1, 2));
  f.SetAllocated("node-0", 3);
  f.SetAllocated("node-1", 1);
  f.SetAllocated("node-2", 0);
  f.SetAllocated("node-3", 2);
  f.SetAllocated("node-4", 2);
  f.SetAllocated("node-5", 4);
  f.Define("new", {});
  f.SetSpecRevision("new");

  auto first = f.Step();
  EXPECT_EQ(first.template_revision, "new");
  EXPECT_TRUE(first.replace.empty()) << "the DaemonSet must take the template first";
  EXPECT_EQ(f.status().phase, RolloutPhase::kCanary);
  EXPECT_TRUE(HasEvent(f.events(), "RolloutStarted"));

  auto canary = f.Step();
  ASSERT_EQ(canary.replace, std::vector<std::string>{"node-2"}) << "the node with the fewest allocated devices";
  ASSERT_EQ(f.status().nodes.size(), 1u);
  EXPECT_TRUE(f.status().nodes[0].canary);
  EXPECT_EQ(f.status().nodes[0].healthy_before, 4);

  // The gate holds at the next look; the canary bakes 30 s, no other node moves.
  f.Step(seconds(1));
  EXPECT_FALSE(f.status().nodes[0].passed_at.empty());
  EXPECT_EQ(f.status().phase, RolloutPhase::kCanary);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(f.Step(seconds(5)).replace.empty());
  EXPECT_EQ(f.status().phase, RolloutPhase::kCanary);

  f.RunToEnd();
  EXPECT_EQ(f.status().phase, RolloutPhase::kComplete);
  EXPECT_EQ(f.status().current_revision, "new");
  EXPECT_EQ(f.status().updated_nodes, 6);
  EXPECT_TRUE(HasEvent(f.events(), "CanaryPassed"));
  EXPECT_TRUE(HasEvent(f.events(), "RolloutComplete"));
  // Waves of at most maxUnavailable, fewest allocated first.
  std::vector<std::string> order;
  for (const auto& s : f.steps()) {
    EXPECT_LE(s.size(), 2u);
    order.insert(order.end(), s.begin(), s.end());
  }
  EXPECT_EQ(order, (std::vector<std::string>{"node-2", "node-1", "node-3", "node-4", "node-0", "node-5"}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(f.RevisionOn("node-" + std::to_string(i)), "new");
}

struct BadVersion {
  const char* name;
  Behaviour behaviour;
  const char* gate;
};

class BadRevision : public ::testing::TestWithParam<BadVersion> {};

TEST_P(BadRevision, StopsAtTheCanaryAndRollsBack) {
  Fleet f(4, "good", Spec(1, 2));
  f.Define("bad", GetParam().behaviour);
  f.SetSpecRevision("bad");
  f.RunToEnd();
  const auto& st = f.status();
  EXPECT_EQ(st.phase, RolloutPhase::kRolledBack);
  EXPECT_EQ(st.failed_revision, "bad");
  EXPECT_EQ(st.current_revision, "good");
  ASSERT_EQ(st.failed.size(), 1u);
  EXPECT_EQ(st.failed[0].node, "node-0");
  EXPECT_EQ(st.failed[0].gate, GetParam().gate);
  EXPECT_NE(st.message.find("node-0"), std::string::npos) << st.message;
  EXPECT_NE(st.message.find(GetParam().gate), std::string::npos) << st.message;
  EXPECT_EQ(f.EverRan("bad"), std::set<std::string>{"node-0"}) << "only the canary ever ran the bad revision";
  for (int i = 0; i < 4; ++i) EXPECT_EQ(f.RevisionOn("node-" + std::to_string(i)), "good");
  EXPECT_EQ(f.template_revision(), "good");
  EXPECT_TRUE(HasEvent(f.events(), "RolloutFailed"));
  EXPECT_TRUE(HasEvent(f.events(), "RolledBack"));

  // Never retried while the spec still asks for it.
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(f.Step(seconds(30)).replace.empty());
  EXPECT_EQ(f.EverRan("bad").size(), 1u);
  EXPECT_EQ(f.status().phase, RolloutPhase::kRolledBack);

  // A new template is a new attempt.
  f.Define("fixed", {});
  f.SetSpecRevision("fixed");
  f.RunToEnd();
  EXPECT_EQ(f.status().phase, RolloutPhase::kComplete);
  EXPECT_EQ(f.status().current_revision, "fixed");
  EXPECT_TRUE(f.status().failed_revision.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Versions, BadRevision,
    ::testing::Values(BadVersion{"Exits", {false, false, false, true, false}, kGateAgentRunning},
                      BadVersion{"NeverRegisters", {false, false, true, false, true}, kGateRegistered},
                      BadVersion{"Unhealthy", {true, true, false, false, true}, kGateDevicesHealthy},
                      BadVersion{"NeverReports", {true, true, true, false, false}, kGateReported},
                      BadVersion{"DraWithoutResourceSlices", {true, true, true, false, true, true, false},
                                 kGateAllocatable}),
    [](const auto& info) { return std::string(info.param.name); });

// A switch of spec.allocationAPI is a new template (desired_test checks the
// hash) and goes through the rollout like any other: canary first, waves of
// maxUnavailable, each node gated on what the scheduler can allocate there,
// which for a DRA agent is what its ResourceSlices publish.
TEST(PlanRollout, SwitchingToDraAndBackGoesNodeByNode) {
  Fleet f(4, "plugin", Spec(1, 1, "10s"));
  f.Define("dra", {.dra = true});
  f.SetSpecRevision("dra");
  f.RunToEnd();
  EXPECT_EQ(f.status().phase, RolloutPhase::kComplete);
  EXPECT_EQ(f.status().current_revision, "dra");
  EXPECT_TRUE(f.status().failed.empty());
  for (const auto& step : f.steps()) EXPECT_LE(step.size(), 1u) << "more than maxUnavailable nodes at once";
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(f.RevisionOn("node-" + std::to_string(i)), "dra");
    EXPECT_TRUE(f.nodes()["node-" + std::to_string(i)].pod->dra);
  }
  EXPECT_TRUE(HasEvent(f.events(), "CanaryPassed"));

  f.SetSpecRevision("plugin");
  f.RunToEnd();
  EXPECT_EQ(f.status().phase, RolloutPhase::kComplete);
  EXPECT_EQ(f.status().current_revision, "plugin");
  for (const auto& step : f.steps()) EXPECT_LE(step.size(), 1u);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(f.nodes()["node-" + std::to_string(i)].pod->dra);
}

// Back to the device plugin: a node where claims hold DRA devices keeps its
// DRA agent (only it can unprepare them, and a device-plugin agent would
// offer their devices), the status says why, and it follows by itself once
// the claims are released. The rest move as usual.
TEST(PlanRollout, ASwitchBackFromDraHoldsANodeWhileClaimsHoldItsDevices) {
  Fleet f(3, "plugin", Spec(1, 1, "0s"));
  f.Define("dra", {.dra = true});
  f.SetSpecRevision("dra");
  f.RunToEnd();
  ASSERT_EQ(f.status().phase, RolloutPhase::kComplete);
  f.SetClaims("node-0", 2);
  f.SetClaims("node-1", 1);

  f.SetSpecRevision("plugin");
  const size_t before = f.steps().size();
  f.RunToEnd(seconds(5), 20);
  for (size_t i = before; i < f.steps().size(); ++i) {
    for (const auto& n : f.steps()[i]) EXPECT_EQ(n, "node-2") << "a node whose claims hold devices was replaced";
  }
  EXPECT_EQ(f.RevisionOn("node-2"), "plugin");
  EXPECT_EQ(f.RevisionOn("node-0"), "dra");
  EXPECT_EQ(f.RevisionOn("node-1"), "dra");
  EXPECT_EQ(f.status().phase, RolloutPhase::kProgressing) << "not complete while nodes are held back";
  EXPECT_NE(f.status().message.find("held back until their claims are released: node node-0: 2 ResourceClaims "
                                    "hold devices of driver " + std::string(kDriver) +
                                    ", node node-1: 1 ResourceClaim holds devices of driver " + kDriver),
            std::string::npos)
      << f.status().message;

  // node-1's claim goes: it switches; node-0 still waits.
  f.SetClaims("node-1", 0);
  f.RunToEnd(seconds(5), 20);
  EXPECT_EQ(f.RevisionOn("node-1"), "plugin");
  EXPECT_EQ(f.RevisionOn("node-0"), "dra");
  EXPECT_EQ(f.status().message.find("node-1:"), std::string::npos) << f.status().message;

  f.SetClaims("node-0", 0);
  f.RunToEnd();
  EXPECT_EQ(f.status().phase, RolloutPhase::kComplete) << f.status().message;
  EXPECT_EQ(f.RevisionOn("node-0"), "plugin");
  EXPECT_TRUE(f.status().failed.empty());
}

// Claims do not hold a node whose new agent serves DRA as well: it reads
// the old one's checkpoint and unprepares them.
TEST(PlanRollout, ClaimsDoNotHoldAnUpgradeThatStaysOnDra) {
  Fleet f(2, "plugin", Spec(1, 1, "0s"));
  f.Define("dra", {.dra = true});
  f.Define("dra-v2", {.dra = true});
  f.SetSpecRevision("dra");
  f.RunToEnd();
  ASSERT_EQ(f.status().current_revision, "dra");
  f.SetClaims("node-0", 3);
  f.SetClaims("node-1", 1);
  f.SetSpecRevision("dra-v2");
  f.RunToEnd();
  EXPECT_EQ(f.status().phase, RolloutPhase::kComplete) << f.status().message;
  EXPECT_EQ(f.RevisionOn("node-0"), "dra-v2");
  EXPECT_EQ(f.RevisionOn("node-1"), "dra-v2");
}

// Until the claims are listed nobody knows: the node waits, and the planner
// asks to look again soon (a listing with no claim of the driver brings no
// event for the pool).
TEST(PlanRollout, ADraNodeWaitsWhileTheClaimsAreNotListed) {
  Fleet f(1, "plugin", Spec(1, 1, "0s"));
  f.Define("dra", {.dra = true});
  f.SetSpecRevision("dra");
  f.RunToEnd();
  f.SetClaims("node-0", std::nullopt);
  f.SetSpecRevision("plugin");
  f.Step();
  RolloutDecision d = f.Step();
  EXPECT_TRUE(d.replace.empty());
  EXPECT_NE(f.status().message.find("node node-0: its agent serves DRA and the ResourceClaims are not listed yet"),
            std::string::npos)
      << f.status().message;
  ASSERT_TRUE(d.requeue_after.has_value());
  EXPECT_LE(*d.requeue_after, std::chrono::seconds(1));
  f.SetClaims("node-0", 0);
  f.RunToEnd();
  EXPECT_EQ(f.RevisionOn("node-0"), "plugin");
  EXPECT_EQ(f.status().phase, RolloutPhase::kComplete);
}

// The DRA gate waits for the slices: a node whose new agent is registered
// but has not published them yet is not done.
TEST(PlanRollout, ADraNodeWaitsForItsResourceSlices) {
  Fleet f(2, "plugin", Spec(1, 1, "0s"));
  f.Define("dra", {.dra = true, .publishes = false});
  f.SetSpecRevision("dra");
  f.Step();
  ASSERT_EQ(f.Step().replace.size(), 1u);
  const std::string canary = f.status().nodes.at(0).node;
  f.Step();
  EXPECT_EQ(f.status().phase, RolloutPhase::kCanary);
  EXPECT_NE(f.status().message.find("waiting for gate Allocatable on node " + canary +
                                    ": the node's ResourceSlices publish 0 device(s), not yet back to 4"),
            std::string::npos)
      << f.status().message;
  f.nodes()[canary].published = 4;  // the agent's slice arrives
  f.Step();
  f.Step();
  EXPECT_EQ(f.status().phase, RolloutPhase::kProgressing) << f.status().message;
}

TEST(PlanRollout, WithoutAutoRollbackTheFailedCanaryKeepsItAndNoOtherNodeGetsIt) {
  auto spec = Spec(1, 2);
  spec.auto_rollback = false;
  Fleet f(4, "good", spec);
  f.Define("bad", {true, false, true, false, true});
  f.SetSpecRevision("bad");
  f.RunToEnd();
  EXPECT_EQ(f.status().phase, RolloutPhase::kFailed);
  EXPECT_EQ(f.status().failed_revision, "bad");
  EXPECT_EQ(f.RevisionOn("node-0"), "bad");
  EXPECT_EQ(f.template_revision(), "good") << "new pods must not get the failed revision";
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(f.Step(seconds(30)).replace.empty());
  // Switching autoRollback on afterwards rolls back.
  f.spec().auto_rollback = true;
  f.RunToEnd();
  EXPECT_EQ(f.status().phase, RolloutPhase::kRolledBack);
  EXPECT_EQ(f.RevisionOn("node-0"), "good");
}

TEST(PlanRollout, AGateThatStopsHoldingWhileBakingFails) {
  Fleet f(3, "good", Spec(1, 1, "60s"));
  f.Define("new", {});
  f.SetSpecRevision("new");
  f.Step();
  f.Step();  // canary node-0 replaced
  f.Step();  // gate holds; baking
  ASSERT_FALSE(f.status().nodes.at(0).passed_at.empty());
  f.nodes()["node-0"].report->healthy = 2;  // two devices die while baking
  f.Step(seconds(5));
  EXPECT_EQ(f.status().phase, RolloutPhase::kRolledBack);
  ASSERT_FALSE(f.status().failed.empty());
  EXPECT_EQ(f.status().failed[0].gate, kGateDevicesHealthy);
  EXPECT_NE(f.status().failed[0].message.find("baking"), std::string::npos);
}

TEST(PlanRollout, APendingGateFailsOnlyAtTheDeadline) {
  Fleet f(3, "good", Spec(1, 1));
  f.Define("slow", {true, true, true, false, false});  // never writes its report
  f.SetSpecRevision("slow");
  f.Step();
  auto d = f.Step();
  ASSERT_EQ(d.replace.size(), 1u);
  ASSERT_TRUE(d.requeue_after.has_value());
  EXPECT_LE(*d.requeue_after, std::chrono::milliseconds(61000));
  f.Step(seconds(30));
  EXPECT_EQ(f.status().phase, RolloutPhase::kCanary);
  EXPECT_NE(f.status().message.find("waiting for gate Reported on node node-0"), std::string::npos)
      << f.status().message;
  f.Step(seconds(31));
  EXPECT_EQ(f.status().phase, RolloutPhase::kRolledBack);
  EXPECT_NE(f.status().failed.at(0).message.find("not met within 60s"), std::string::npos);
}

TEST(PlanRollout, PausedHoldsAndResumes) {
  Fleet f(4, "old", Spec(1, 1, "0s"));
  f.Define("new", {});
  f.SetSpecRevision("new");
  f.Step();
  f.Step();  // canary replaced
  f.spec().paused = true;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(f.Step(seconds(10)).replace.empty());
  EXPECT_EQ(f.status().phase, RolloutPhase::kPaused);
  EXPECT_EQ(f.EverRan("new").size(), 1u);
  f.spec().paused = false;
  f.RunToEnd();
  EXPECT_EQ(f.status().phase, RolloutPhase::kComplete);
  EXPECT_EQ(f.EverRan("new").size(), 4u);
}

TEST(PlanRollout, ASpecChangeMidRolloutRetargetsWithANewCanary) {
  Fleet f(4, "v1", Spec(1, 1, "0s"));
  f.Define("v2", {});
  f.Define("v3", {});
  f.SetSpecRevision("v2");
  for (int i = 0; i < 4; ++i) f.Step();
  ASSERT_GE(f.EverRan("v2").size(), 1u);
  ASSERT_LT(f.EverRan("v2").size(), 4u);
  f.SetSpecRevision("v3");
  f.Step();
  EXPECT_EQ(f.status().update_revision, "v3");
  EXPECT_EQ(f.status().phase, RolloutPhase::kCanary);
  f.RunToEnd();
  EXPECT_EQ(f.status().phase, RolloutPhase::kComplete);
  EXPECT_EQ(f.status().current_revision, "v3");
  for (int i = 0; i < 4; ++i) EXPECT_EQ(f.RevisionOn("node-" + std::to_string(i)), "v3");
}

TEST(PlanRollout, ASpecRevertedMidRolloutRestoresWithoutCanary) {
  Fleet f(4, "v1", Spec(2, 1, "10m"));
  f.Define("v2", {});
  f.SetSpecRevision("v2");
  for (int i = 0; i < 4; ++i) f.Step();
  ASSERT_EQ(f.EverRan("v2").size(), 2u);  // both canaries, baking for 10 minutes
  f.SetSpecRevision("v1");
  f.RunToEnd(seconds(5), 20);
  EXPECT_EQ(f.status().phase, RolloutPhase::kComplete);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(f.RevisionOn("node-" + std::to_string(i)), "v1");
}

TEST(PlanRollout, ResumesFromStatusAloneAndDeletesAPodItRecordedButNeverDeleted) {
  Fleet f(3, "old", Spec(1, 1));
  f.Define("new", {});
  f.SetSpecRevision("new");
  f.Step();
  // The status recorded node-0 as replaced, but the operator died before
  // deleting its pod: a fresh look deletes it again.
  api::RolloutStatus st = f.status();
  st.nodes.push_back({"node-0", true, api::FormatTime(kStart), 4, ""});
  RolloutInput in{f.spec(), st, "new", "new", true, f.nodes(), kStart + seconds(3)};
  auto d = PlanRollout(in);
  EXPECT_EQ(d.replace, std::vector<std::string>{"node-0"});
  EXPECT_EQ(d.status.nodes.size(), 1u) << "and picks no second canary";
}

TEST(PlanRollout, WaitsForTheDaemonSetControllerBeforeReplacing) {
  Fleet f(2, "old", Spec(1, 1));
  api::RolloutStatus st = f.status();
  RolloutInput in{f.spec(), st, "new", "new", false, f.nodes(), kStart};
  auto d = PlanRollout(in);
  EXPECT_TRUE(d.replace.empty());
  EXPECT_NE(d.status.message.find("DaemonSet controller"), std::string::npos) << d.status.message;
}

TEST(PlanRollout, ANotReadyNodeIsNotPickedAndKeepsTheRolloutOpen) {
  Fleet f(3, "old", Spec(1, 3, "0s"));
  f.Define("new", {});
  f.nodes()["node-1"].node_ready = false;
  f.SetSpecRevision("new");
  f.RunToEnd(seconds(5), 30);
  EXPECT_EQ(f.EverRan("new"), (std::set<std::string>{"node-0", "node-2"}));
  EXPECT_EQ(f.status().phase, RolloutPhase::kProgressing);
  EXPECT_NE(f.status().message.find("1 more wait for their node to be Ready"), std::string::npos)
      << f.status().message;
  f.nodes()["node-1"].node_ready = true;
  f.RunToEnd();
  EXPECT_EQ(f.status().phase, RolloutPhase::kComplete);
}

TEST(PlanRollout, RestoringAcceptsReportsFromAgentsThatWriteNoRevision) {
  Fleet f(2, "legacy", Spec(1, 1));
  // Agents of the old template wrote no revision.
  f.Define("legacy", {});
  f.Define("bad", {true, false, true, false, true});
  f.SetSpecRevision("bad");
  for (int i = 0; i < 3; ++i) f.Step();
  f.Step(seconds(61));  // the canary fails at the deadline
  ASSERT_EQ(f.status().phase, RolloutPhase::kRolledBack);
  f.Step();
  f.nodes()["node-0"].report->revision = "";
  f.RunToEnd();
  EXPECT_FALSE(f.status().completion_time.empty()) << f.status().message;
  EXPECT_TRUE(f.status().failed.size() == 1) << "the restore passed its gate";
}

TEST(ObserveRollingUpdate, ReportsProgressFromThePods) {
  RolloutInput in;
  in.spec_revision = "b";
  in.daemon_set_revision = "b";
  in.previous.current_revision = "a";
  in.previous.update_revision = "a";
  in.previous.phase = RolloutPhase::kComplete;
  in.now = kStart;
  in.nodes["n1"].pod = RolloutNodeView::Pod{"b", true, 0, "", ""};
  in.nodes["n2"].pod = RolloutNodeView::Pod{"a", true, 0, "", ""};
  auto st = ObserveRollingUpdate(in);
  EXPECT_EQ(st.phase, RolloutPhase::kProgressing);
  EXPECT_EQ(st.updated_nodes, 1);
  EXPECT_EQ(st.update_revision, "b");
  in.nodes["n2"].pod->revision = "b";
  in.previous = st;
  st = ObserveRollingUpdate(in);
  EXPECT_EQ(st.phase, RolloutPhase::kComplete);
  EXPECT_EQ(st.current_revision, "b");
}

}  // namespace
}  // namespace hf::controller
