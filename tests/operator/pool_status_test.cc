#include "operator/pool_status.h"

#include <gtest/gtest.h>

#include <set>

#include "api/names.h"

namespace hf::controller {
namespace {

using api::ConditionStatus;

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600));

api::DevicePool Pool() {
  api::DevicePool p;
  p.metadata.name = "pool";
  p.metadata.generation = 2;
  p.spec.resource_name = "hashfoundry.com/dev";
  return p;
}

api::DevicePoolNode Report(const std::string& node, int total, int healthy, bool registered, int allocated = 0) {
  api::DevicePoolNode r;
  r.spec = {"pool", node};
  r.status.counts = {total, healthy, allocated};
  r.status.registered = registered;
  return r;
}

DaemonSetView DaemonSet(int desired, int updated, int ready, int available, int gen = 1, int observed = 1) {
  return DaemonSetView{gen, observed, desired, updated, ready, available, ""};
}

ConditionStatus Cond(const api::DevicePoolStatus& st, std::string_view type, std::string* reason = nullptr) {
  const auto* c = api::FindCondition(st.conditions, type);
  EXPECT_NE(c, nullptr) << type;
  if (c == nullptr) return ConditionStatus::kUnknown;
  if (reason != nullptr) *reason = c->reason;
  return c->status;
}

// A node the pool wants, with a Ready Node, a ready current agent pod and
// its report.
ObservedNode Healthy(const std::string& name, int total = 4, int healthy = 4, bool registered = true,
                     int allocated = 0) {
  ObservedNode n;
  n.agent = AgentPod{"agent-" + name, true};
  n.report = Report(name, total, healthy, registered, allocated);
  return n;
}

Observed Seen(std::map<std::string, ObservedNode> nodes, int ds_ready = -1) {
  Observed seen;
  seen.selected = seen.labelled = static_cast<int>(nodes.size());
  seen.nodes = std::move(nodes);
  int n = seen.labelled;
  seen.daemon_set = DaemonSet(n, n, ds_ready < 0 ? n : ds_ready, ds_ready < 0 ? n : ds_ready);
  return seen;
}

bool ValidUtf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

TEST(DaemonSetViewTest, ReadsWhatTheOperatorUsesAndZeroForWhatIsMissing) {
  DaemonSetView v = DaemonSetView::Of(nlohmann::json::parse(R"({
    "metadata": {"generation": 3},
    "spec": {"template": {"metadata": {"annotations": {"hashfoundry.com/template-hash": "abc"}}}},
    "status": {"observedGeneration": 2, "desiredNumberScheduled": 4, "updatedNumberScheduled": 3,
               "numberReady": 2, "numberAvailable": 1}})"));
  EXPECT_EQ(v.generation, 3);
  EXPECT_EQ(v.observed_generation, 2);
  EXPECT_FALSE(v.Synced());
  EXPECT_EQ(v.desired, 4);
  EXPECT_EQ(v.updated, 3);
  EXPECT_EQ(v.ready, 2);
  EXPECT_EQ(v.available, 1);
  EXPECT_EQ(v.template_hash, "abc");

  DaemonSetView empty = DaemonSetView::Of(nlohmann::json::parse(R"({"spec": {"template": "not an object"}, "status": 7})"));
  EXPECT_EQ(empty.desired, 0);
  EXPECT_EQ(empty.template_hash, "");
  EXPECT_TRUE(empty.Synced());
}

TEST(PoolStatusTest, ReadyWhenRolledOutAndRegistered) {
  Observed seen = Seen({{"a", Healthy("a", 4, 4, true, 1)}, {"b", Healthy("b")}});
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(st.observed_generation, 2);
  EXPECT_EQ(Cond(st, api::kConditionReady), ConditionStatus::kTrue);
  EXPECT_EQ(Cond(st, api::kConditionProgressing), ConditionStatus::kFalse);
  EXPECT_EQ(Cond(st, api::kConditionDegraded), ConditionStatus::kFalse);
  EXPECT_EQ(st.devices.total, 8);
  EXPECT_EQ(st.devices.allocated, 1);
  EXPECT_EQ(st.nodes.registered, 2);
  EXPECT_EQ(st.nodes.ready, 2);
  EXPECT_TRUE(st.problem_nodes.empty());
  for (const auto& c : st.conditions) EXPECT_EQ(c.observed_generation, 2) << c.type;
}

TEST(PoolStatusTest, ProgressingDuringRolloutAndOldGeneration) {
  Observed seen = Seen({{"a", Healthy("a")}, {"b", Healthy("b")}});
  seen.daemon_set = DaemonSet(2, 2, 2, 2, /*gen=*/2, /*observed=*/1);
  std::string reason;
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(Cond(st, api::kConditionProgressing, &reason), ConditionStatus::kTrue);
  EXPECT_EQ(reason, "RollingOut");
  EXPECT_EQ(Cond(st, api::kConditionReady), ConditionStatus::kFalse);
}

TEST(PoolStatusTest, UnhealthyDevicesDegradeAndNameTheNode) {
  Observed seen = Seen({{"a", Healthy("a", 4, 3)}, {"b", Healthy("b")}});
  std::string reason;
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(Cond(st, api::kConditionDegraded, &reason), ConditionStatus::kTrue);
  EXPECT_EQ(reason, "DevicesUnhealthy");
  EXPECT_EQ(Cond(st, api::kConditionReady), ConditionStatus::kFalse);
  ASSERT_EQ(st.problem_nodes.size(), 1u);
  EXPECT_EQ(st.problem_nodes[0].node, "a");
  EXPECT_EQ(st.devices.healthy, 7);
}

TEST(PoolStatusTest, ConflictsAndMonitoring) {
  Observed seen;
  seen.selected = 3;
  seen.conflicts = {{"b", "older"}, {"c", "older"}};
  seen.monitoring_wanted = true;
  std::string reason;
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(Cond(st, api::kConditionConflict, &reason), ConditionStatus::kTrue);
  EXPECT_EQ(reason, "NodesClaimedByOlderPool");
  EXPECT_NE(api::FindCondition(st.conditions, api::kConditionConflict)->message.find("b, c"), std::string::npos);
  EXPECT_EQ(Cond(st, api::kConditionMonitoringAvailable, &reason), ConditionStatus::kFalse);
  EXPECT_EQ(reason, "CRDsNotInstalled");
  EXPECT_EQ(st.problem_nodes.size(), 2u);
  EXPECT_EQ(Cond(st, api::kConditionReady, &reason), ConditionStatus::kTrue);
  EXPECT_EQ(reason, "NoMatchingNodes");
  EXPECT_NE(api::FindCondition(st.conditions, api::kConditionReady)->message.find("older pool"), std::string::npos);
}

TEST(PoolStatusTest, NoNodesIsReadyAndSaysHowToLabelOne) {
  std::string reason;
  Observed seen;
  seen.node_selector = "hashfoundry.com/custom-device=enabled";
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(Cond(st, api::kConditionReady, &reason), ConditionStatus::kTrue);
  EXPECT_EQ(reason, "NoMatchingNodes");
  EXPECT_NE(api::FindCondition(st.conditions, api::kConditionReady)
                ->message.find("kubectl label node <node> hashfoundry.com/custom-device=enabled"),
            std::string::npos);
}

TEST(PoolStatusTest, SameInputsGiveAnEqualStatusLater) {
  Observed seen = Seen({{"a", Healthy("a")}});
  auto pool = Pool();
  pool.status = ComputeStatus(pool, seen, kNow);
  // An hour later, nothing changed: no new transition times, so no write.
  EXPECT_EQ(ComputeStatus(pool, seen, kNow + std::chrono::hours(1)), pool.status);
  seen.nodes["a"].report->status.counts.healthy = 3;
  auto changed = ComputeStatus(pool, seen, kNow + std::chrono::hours(1));
  EXPECT_NE(api::FindCondition(changed.conditions, api::kConditionDegraded)->last_transition_time,
            api::FindCondition(pool.status.conditions, api::kConditionDegraded)->last_transition_time);
}

TEST(PoolStatusTest, ErrorsAndInvalidSpecs) {
  Observed seen;
  seen.error = "applying children: Forbidden: nope";
  std::string reason;
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(Cond(st, api::kConditionDegraded, &reason), ConditionStatus::kTrue);
  EXPECT_EQ(reason, "ReconcileError");

  auto bad = InvalidStatus(Pool().metadata, {}, "spec.discovery: exactly one method", kNow);
  EXPECT_EQ(Cond(bad, api::kConditionInvalid), ConditionStatus::kTrue);
  EXPECT_EQ(Cond(bad, api::kConditionReady, &reason), ConditionStatus::kFalse);
  EXPECT_EQ(reason, "InvalidSpec");
}

// The finding behind this test: unhealthy devices and an unregistered agent
// on one node gave two problemNodes entries with the same key, which the
// CRD's list-map refuses, so every status write failed and the pool stayed
// Ready=True.
TEST(PoolStatusTest, OneProblemEntryPerNodeWithEveryMessage) {
  Observed seen = Seen({{"a", Healthy("a", 4, 3, /*registered=*/false)}, {"b", Healthy("b")}});
  auto st = ComputeStatus(Pool(), seen, kNow);
  ASSERT_EQ(st.problem_nodes.size(), 1u);
  EXPECT_EQ(st.problem_nodes[0].node, "a");
  EXPECT_EQ(st.problem_nodes[0].reason, "AgentNotRegistered");
  EXPECT_NE(st.problem_nodes[0].message.find("not registered"), std::string::npos);
  EXPECT_NE(st.problem_nodes[0].message.find("1 of 4 devices unhealthy"), std::string::npos);
}

// Every combination of per-node problems gives a status the CRD accepts:
// unique node keys, at most ten entries, bounded valid UTF-8 messages, and
// counts that never exceed what they count. (The API server itself checks
// the same combinations in the operator's integration tests.)
TEST(PoolStatusTest, EveryCombinationOfNodeProblemsIsWritable) {
  const std::vector<std::string> node_ready = {"True", "False", "Unknown", ""};
  enum AgentState { kNone, kReady, kNotReady, kCrashing, kTerminating, kOld };
  enum ReportState { kNoReport, kGood, kUnregistered, kUnhealthy, kBoth };
  std::set<std::string> reasons = {"NodeNotReady",       "AgentCrashLooping", "AgentNotRunning", "AgentNotReady",
                                   "ReportMissing",      "AgentNotRegistered", "DevicesUnhealthy", "Conflict",
                                   "ResourceNotAdvertised"};
  int combos = 0;
  for (size_t nr = 0; nr < node_ready.size(); ++nr) {
    for (int ag = kNone; ag <= kOld; ++ag) {
      for (int rp = kNoReport; rp <= kBoth; ++rp) {
       for (bool advertised : {true, false}) {
       for (bool every_other : {false, true}) {
        Observed seen;
        // Twelve nodes in this state, plus conflicts, so the list overflows;
        // or every other node, so the conflicts are listed too.
        for (int i = 0; i < 12; ++i) {
          std::string name = "node-" + std::to_string(i);
          if (every_other && i % 2 == 1) {
            seen.nodes[name] = Healthy(name);
            continue;
          }
          ObservedNode n;
          n.ready = node_ready[nr];
          n.advertised = advertised;
          if (ag != kNone) {
            // A long multi-byte termination message, to be cut safely.
            n.agent = AgentPod{"agent-" + name, ag == kReady || ag == kOld, ag != kOld, ag == kTerminating,
                               ag == kCrashing ? 7 : 0, ag == kCrashing ? "CrashLoopBackOff" : "",
                               ag == kCrashing ? "exit code 2 (Error): " + std::string(600, 'x') + "\u00e9\u00e9\u00e9" +
                                                     std::string(600, 'y')
                                               : ""};
          }
          if (rp != kNoReport) {
            n.report = Report(name, 4, rp == kUnhealthy || rp == kBoth ? 1 : 4, rp == kGood || rp == kUnhealthy, 2);
          }
          seen.nodes[name] = n;
        }
        seen.selected = 14;
        seen.labelled = 12;
        seen.conflicts = {{"node-0", "older"}, {"z-node", "older"}};  // node-0 too: keys must stay unique
        seen.daemon_set = DaemonSet(12, 13, 14, 15);  // the DaemonSet may over-count
        auto st = ComputeStatus(Pool(), seen, kNow);
        ++combos;
        SCOPED_TRACE("ready=" + node_ready[nr] + " agent=" + std::to_string(ag) + " report=" + std::to_string(rp) +
                     " advertised=" + std::to_string(advertised) + " every_other=" + std::to_string(every_other));
        std::set<std::string> keys;
        for (const auto& p : st.problem_nodes) {
          EXPECT_TRUE(keys.insert(p.node).second) << "duplicate problemNodes key " << p.node;
          EXPECT_TRUE(reasons.count(p.reason)) << p.reason;
          EXPECT_LE(p.message.size(), 1024u);
          EXPECT_TRUE(ValidUtf8(p.message));
        }
        EXPECT_LE(st.problem_nodes.size(), api::kMaxProblemNodes);
        EXPECT_LE(st.nodes.registered, st.nodes.labelled);
        EXPECT_LE(st.nodes.ready, st.nodes.registered);
        EXPECT_LE(st.devices.healthy, st.devices.total);
        EXPECT_LE(st.daemon_set.updated, st.daemon_set.desired);
        EXPECT_LE(st.daemon_set.ready, st.daemon_set.desired);
        EXPECT_LE(st.daemon_set.available, st.daemon_set.desired);
        for (const auto& c : st.conditions) {
          EXPECT_LE(c.message.size(), 32768u);
          EXPECT_TRUE(ValidUtf8(c.message));
        }
        bool all_good = nr == 0 && ag == kReady && rp == kGood && advertised;
        EXPECT_EQ(Cond(st, api::kConditionReady) == ConditionStatus::kTrue, all_good);
       }
       }
      }
    }
  }
  EXPECT_EQ(combos, 4 * 6 * 5 * 2 * 2);
}

TEST(PoolStatusTest, StaleReportsOfANodeNotReadyCountAsNeitherRegisteredNorHealthy) {
  Observed seen = Seen({{"a", Healthy("a", 4, 4, true, 1)}, {"b", Healthy("b")}});
  seen.nodes["a"].ready = "Unknown";
  std::string reason;
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(st.devices.total, 8);
  EXPECT_EQ(st.devices.healthy, 4);
  EXPECT_EQ(st.devices.allocated, 1);  // pods keep their devices while the node is away
  EXPECT_EQ(st.nodes.registered, 1);
  EXPECT_EQ(st.nodes.ready, 1);
  EXPECT_EQ(Cond(st, api::kConditionDegraded, &reason), ConditionStatus::kTrue);
  EXPECT_EQ(reason, "NodesNotReady");
  EXPECT_EQ(Cond(st, api::kConditionReady), ConditionStatus::kFalse);
  ASSERT_EQ(st.problem_nodes.size(), 1u);
  EXPECT_EQ(st.problem_nodes[0].reason, "NodeNotReady");
  EXPECT_NE(st.problem_nodes[0].message.find("Ready condition is Unknown"), std::string::npos);
}

// The agent reports its registration a moment before the kubelet's node
// status lists the resource: until then the scheduler places no pod there,
// so the pool is not Ready yet, and not Degraded either.
TEST(PoolStatusTest, ARegistrationCountsOnceTheNodeAdvertisesTheResource) {
  Observed seen = Seen({{"a", Healthy("a")}, {"b", Healthy("b")}});
  seen.nodes["b"].advertised = false;
  std::string reason;
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(st.nodes.registered, 1);
  EXPECT_EQ(st.devices.healthy, 8);
  EXPECT_EQ(Cond(st, api::kConditionReady, &reason), ConditionStatus::kFalse);
  EXPECT_EQ(reason, "AgentsNotReady");
  EXPECT_EQ(Cond(st, api::kConditionDegraded), ConditionStatus::kFalse);
  ASSERT_EQ(st.problem_nodes.size(), 1u);
  EXPECT_EQ(st.problem_nodes[0].node, "b");
  EXPECT_EQ(st.problem_nodes[0].reason, "ResourceNotAdvertised");
  EXPECT_NE(st.problem_nodes[0].message.find("does not list hashfoundry.com/"), std::string::npos)
      << st.problem_nodes[0].message;

  seen.nodes["b"].advertised = true;
  st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(st.nodes.registered, 2);
  EXPECT_EQ(Cond(st, api::kConditionReady), ConditionStatus::kTrue);
  EXPECT_TRUE(st.problem_nodes.empty());
}

TEST(PoolStatusTest, ADraNodeCountsOnceItsResourceSliceIsPublished) {
  Observed seen = Seen({{"a", Healthy("a")}});
  seen.nodes["a"].agent->dra = true;
  seen.nodes["a"].advertised = false;
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(st.nodes.registered, 0);
  ASSERT_EQ(st.problem_nodes.size(), 1u);
  EXPECT_EQ(st.problem_nodes[0].reason, "ResourceNotAdvertised");
  EXPECT_NE(st.problem_nodes[0].message.find("publishes no ResourceSlice of driver pool.devicepool.hashfoundry.com"),
            std::string::npos)
      << st.problem_nodes[0].message;
  seen.nodes["a"].advertised = true;
  st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(st.nodes.registered, 1);
  EXPECT_EQ(Cond(st, api::kConditionReady), ConditionStatus::kTrue);
}

// A DRA node's allocations are what the API shows (claims and devices held
// through the device plugin API, as the reconciler counts them); a device
// plugin node's, and a DRA node's until those are known, the report's.
TEST(PoolStatusTest, ADraNodesAllocationsComeFromTheClaimsWhenKnown) {
  Observed seen = Seen({{"dp", Healthy("dp", 4, 4, true, 3)}, {"dra", Healthy("dra", 4, 4, true, 1)}});
  seen.nodes["dra"].agent->dra = true;
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(st.devices.allocated, 4) << "not known yet: both reports";
  seen.nodes["dra"].allocated = 3;
  st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(st.devices.allocated, 6);
  EXPECT_EQ(st.devices.total, 8);
  // Its devices, from its slices: 5, of which 2 tainted unhealthy.
  seen.nodes["dra"].total = 5;
  seen.nodes["dra"].healthy = 3;
  st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(st.devices, (api::DeviceCounts{9, 7, 6}));
  ASSERT_EQ(st.problem_nodes.size(), 1u);
  EXPECT_EQ(st.problem_nodes[0].node, "dra");
  EXPECT_NE(st.problem_nodes[0].message.find("2 of 5 devices unhealthy"), std::string::npos)
      << st.problem_nodes[0].message;
}

TEST(PoolStatusTest, ADeletedDraPoolSaysWhichClaimsHoldItsAgents) {
  api::DevicePool pool = Pool();
  api::DevicePoolStatus st = ComputeStatus(pool, Seen({{"a", Healthy("a")}}), kNow);
  const std::string driver = "pool.devicepool.hashfoundry.com";
  EXPECT_EQ(DeletingStatus(pool.metadata, st, driver, {}, kNow), st) << "nothing waited for: nothing changes";

  std::vector<std::string> holding;
  for (int i = 0; i < 7; ++i) holding.push_back("apps/claim-" + std::to_string(i));
  auto waiting = DeletingStatus(pool.metadata, st, driver, holding, kNow + std::chrono::seconds(5));
  std::string reason;
  EXPECT_EQ(Cond(waiting, api::kConditionReady, &reason), ConditionStatus::kFalse);
  EXPECT_EQ(reason, "WaitingForClaims");
  EXPECT_EQ(Cond(waiting, api::kConditionProgressing, &reason), ConditionStatus::kTrue);
  EXPECT_EQ(reason, "WaitingForClaims");
  const auto* c = api::FindCondition(waiting.conditions, api::kConditionProgressing);
  EXPECT_EQ(c->message,
            "the pool is being deleted; its DeviceClass is gone, and its agents stay until 7 ResourceClaims holding "
            "devices of driver pool.devicepool.hashfoundry.com are released (delete the pods that use them): "
            "apps/claim-0, apps/claim-1, apps/claim-2, apps/claim-3, apps/claim-4 and 2 more");
  EXPECT_EQ(DeletingStatus(pool.metadata, waiting, driver, holding, kNow + std::chrono::seconds(9)), waiting)
      << "the same claims: the same status, no write";

  // Released: the agents go, and Progressing's transition says since when.
  const auto released = kNow + std::chrono::seconds(60);
  auto stopping = DeletingStatus(pool.metadata, waiting, driver, {}, released);
  EXPECT_EQ(Cond(stopping, api::kConditionProgressing, &reason), ConditionStatus::kFalse);
  EXPECT_EQ(reason, "AgentsStopping");
  EXPECT_EQ(api::FindCondition(stopping.conditions, api::kConditionProgressing)->last_transition_time,
            api::FormatTime(released));
  EXPECT_EQ(Cond(stopping, api::kConditionReady, &reason), ConditionStatus::kFalse);
  EXPECT_EQ(reason, "AgentsStopping");
  EXPECT_EQ(DeletingStatus(pool.metadata, stopping, driver, {}, released + std::chrono::seconds(1)), stopping);
}

TEST(PoolStatusTest, DeviceClassAvailableOnlyOnPoolsThatUseDra) {
  Observed seen = Seen({{"a", Healthy("a")}});
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(api::FindCondition(st.conditions, api::kConditionDeviceClassAvailable), nullptr)
      << "a DevicePlugin pool's status is as before DRA existed";

  api::DevicePool pool = Pool();
  pool.spec.allocation_api = api::AllocationApi::kDra;
  seen.device_class_wanted = true;
  std::string reason;
  st = ComputeStatus(pool, seen, kNow);
  EXPECT_EQ(Cond(st, api::kConditionDeviceClassAvailable, &reason), ConditionStatus::kTrue);
  EXPECT_EQ(reason, "DeviceClassCreated");
  EXPECT_EQ(Cond(st, api::kConditionReady), ConditionStatus::kTrue);

  seen.extended_resource_dropped = true;
  pool.status = st;
  st = ComputeStatus(pool, seen, kNow);
  EXPECT_EQ(Cond(st, api::kConditionDeviceClassAvailable, &reason), ConditionStatus::kFalse);
  EXPECT_EQ(reason, "ExtendedResourceNotSupported");
  EXPECT_EQ(Cond(st, api::kConditionDegraded), ConditionStatus::kFalse) << "claims still work";

  seen.extended_resource_dropped = false;
  seen.dra_served = false;
  st = ComputeStatus(pool, seen, kNow);
  EXPECT_EQ(Cond(st, api::kConditionDeviceClassAvailable, &reason), ConditionStatus::kFalse);
  EXPECT_EQ(reason, "DRANotServed");
  EXPECT_EQ(Cond(st, api::kConditionDegraded, &reason), ConditionStatus::kTrue);
  EXPECT_EQ(reason, "DRANotServed");
  EXPECT_EQ(Cond(st, api::kConditionReady), ConditionStatus::kFalse);

  // Back on DevicePlugin, with no agent serving DRA any more.
  pool.spec.allocation_api = api::AllocationApi::kDevicePlugin;
  pool.status = st;
  seen.device_class_wanted = false;
  st = ComputeStatus(pool, seen, kNow);
  EXPECT_EQ(Cond(st, api::kConditionDeviceClassAvailable, &reason), ConditionStatus::kFalse);
  EXPECT_EQ(reason, "DevicePlugin");
  EXPECT_EQ(Cond(st, api::kConditionDegraded), ConditionStatus::kFalse);
}

TEST(PoolStatusTest, AStoppedAgentsReportIsStale) {
  Observed seen = Seen({{"a", Healthy("a")}, {"b", Healthy("b")}});
  seen.nodes["a"].agent.reset();
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(st.nodes.registered, 1);
  EXPECT_EQ(st.devices.healthy, 4);
  ASSERT_EQ(st.problem_nodes.size(), 1u);
  EXPECT_EQ(st.problem_nodes[0].reason, "AgentNotRunning");
  std::string reason;
  EXPECT_EQ(Cond(st, api::kConditionReady, &reason), ConditionStatus::kFalse);
  EXPECT_EQ(reason, "AgentsNotReady");
  EXPECT_NE(api::FindCondition(st.conditions, api::kConditionReady)->message.find("1/2 agents ready"),
            std::string::npos);
}

TEST(PoolStatusTest, ACrashLoopingAgentDegradesWithItsTerminationMessage) {
  Observed seen = Seen({{"a", Healthy("a")}, {"b", ObservedNode{}}});
  seen.nodes["b"].agent = AgentPod{"agent-b", false, true, false, 4, "CrashLoopBackOff",
                                   "exit code 2 (Error): --health-interval: \"0s\" is not a positive duration"};
  std::string reason;
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(Cond(st, api::kConditionDegraded, &reason), ConditionStatus::kTrue);
  EXPECT_EQ(reason, "AgentCrashLooping");
  const auto& degraded = api::FindCondition(st.conditions, api::kConditionDegraded)->message;
  EXPECT_NE(degraded.find("is not a positive duration"), std::string::npos) << degraded;
  EXPECT_EQ(Cond(st, api::kConditionReady, &reason), ConditionStatus::kFalse);
  EXPECT_EQ(reason, "AgentsNotReady");
  const auto& ready = api::FindCondition(st.conditions, api::kConditionReady)->message;
  EXPECT_NE(ready.find("b: agent pod agent-b is crash-looping (4 restarts)"), std::string::npos) << ready;
  ASSERT_EQ(st.problem_nodes.size(), 1u);
  EXPECT_EQ(st.problem_nodes[0].reason, "AgentCrashLooping");
}

// A deleted Node's pod is still counted by the DaemonSet controller until it
// is garbage collected: it must not show as "3/2 agents available".
TEST(PoolStatusTest, CountsNeverExceedWhatTheyCount) {
  Observed seen = Seen({{"a", Healthy("a")}, {"b", Healthy("b")}});
  seen.daemon_set = DaemonSet(2, 3, 3, 3);
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(st.daemon_set.desired, 2);
  EXPECT_EQ(st.daemon_set.available, 2);
  EXPECT_EQ(st.daemon_set.updated, 2);
  EXPECT_EQ(Cond(st, api::kConditionReady), ConditionStatus::kTrue);
}

TEST(PoolStatusTest, AnAgentOfAnOldTemplateIsStillRollingOut) {
  Observed seen = Seen({{"a", Healthy("a")}, {"b", Healthy("b")}});
  seen.nodes["b"].agent->current = false;
  std::string reason;
  auto st = ComputeStatus(Pool(), seen, kNow);
  EXPECT_EQ(Cond(st, api::kConditionProgressing, &reason), ConditionStatus::kTrue);
  EXPECT_EQ(reason, "RollingOut");
  EXPECT_EQ(st.nodes.ready, 2);  // the old agent still serves
}


TEST(PoolStatusRolloutTest, AManagedRolloutIsProgressingAndKeepsReadyFromTheAgents) {
  auto pool = Pool();
  Observed seen = Seen({{"node-1", Healthy("node-1")}, {"node-2", Healthy("node-2")}});
  api::RolloutStatus r;
  r.phase = api::RolloutPhase::kCanary;
  r.current_revision = "aaaa";
  r.update_revision = "bbbbbbbbbbbbbbbb";
  r.message = "canary: 0/3 node(s) on revision bbbbbbbbbb; waiting for gate Registered on node node-1";
  seen.rollout = r;
  auto st = ComputeStatus(pool, seen, kNow);
  EXPECT_EQ(st.rollout, r);
  const auto* p = api::FindCondition(st.conditions, api::kConditionProgressing);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->status, ConditionStatus::kTrue);
  EXPECT_EQ(p->reason, "RolloutCanary");
  EXPECT_NE(p->message.find("waiting for gate Registered on node node-1"), std::string::npos) << p->message;
  const auto* ready = api::FindCondition(st.conditions, api::kConditionReady);
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ(ready->status, ConditionStatus::kTrue) << ready->message;
}

TEST(PoolStatusRolloutTest, ARolledBackRolloutIsDegradedUntilTheTemplateChanges) {
  auto pool = Pool();
  Observed seen = Seen({{"node-1", Healthy("node-1")}, {"node-2", Healthy("node-2")}});
  api::RolloutStatus r;
  r.phase = api::RolloutPhase::kRolledBack;
  r.current_revision = "aaaa";
  r.update_revision = "aaaa";
  r.failed_revision = "bbbb";
  r.completion_time = "2026-01-01T00:00:00Z";
  r.message = "rolled back to revision aaaa after revision bbbb failed: gate Registered on node node-1: late";
  seen.rollout = r;
  auto st = ComputeStatus(pool, seen, kNow);
  const auto* d = api::FindCondition(st.conditions, api::kConditionDegraded);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->status, ConditionStatus::kTrue);
  EXPECT_EQ(d->reason, "RolledBack");
  EXPECT_EQ(d->message, r.message);
  // The last good agents serve: Ready stays True, the rollout is over.
  EXPECT_EQ(api::FindCondition(st.conditions, api::kConditionReady)->status, ConditionStatus::kTrue);
  EXPECT_EQ(api::FindCondition(st.conditions, api::kConditionProgressing)->status, ConditionStatus::kFalse);

  r.phase = api::RolloutPhase::kFailed;
  seen.rollout = r;
  st = ComputeStatus(pool, seen, kNow);
  EXPECT_EQ(api::FindCondition(st.conditions, api::kConditionDegraded)->reason, "RolloutFailed");
}

}  // namespace
}  // namespace hf::controller
