// PlanRollout: one step of a pool's managed agent rollout, as a pure function
// of the pool's rollout spec, what status.rollout said last time and what the
// cluster shows now. The reconciler writes the returned status (conditionally
// on the pool's resourceVersion, so two operators never both act), then
// deletes the agent pods of the nodes to replace; the DaemonSet (updateStrategy
// OnDelete) creates their successors from its template, which the reconciler
// sets to `template_revision`.
//
// All state lives in the cluster: the revisions are the pod template hashes
// the agent pods carry, and the nodes in flight with their start time and
// healthy-device count before the replacement are in status.rollout. An
// operator restarted mid-way therefore resumes where things are.
//
// A rollout to a new revision replaces canary nodes first (fewest allocated
// devices first), waits until every canary's gate holds and then for bakeTime
// with the gates still holding, then replaces waves of at most maxUnavailable
// nodes (100 at most). The gate of one node, in the order checked:
//   AgentRunning   the new agent pod exists and is not crash-looping
//   Reported       its DevicePoolNode was written by the new revision
//   Registered     and says the agent is registered with the kubelet
//   DevicesHealthy no fewer healthy devices than before the replacement
//   Allocatable    what the scheduler can allocate is back to that: the
//                  Node's allocatable for the resource, or for an agent
//                  serving DRA, the devices its node's ResourceSlices publish
//   AgentReady     the pod is Ready
// all within progressDeadline of the replacement (a crash loop fails at
// once). A failed gate stops the rollout and marks the revision failed: it is
// not tried again until the spec's template changes. With autoRollback the
// last good revision is pinned and the nodes that got the failed one are
// replaced again (phase RolledBack); without it the DaemonSet is pinned too,
// so no further node gets the failed revision, but the failed nodes keep it
// for inspection (phase Failed). A rollout back to the current revision (a
// rollback, or a spec reverted mid-way) needs no canary.
//
// A node whose agent serves DRA is held back from a revision whose agent
// does not (a switch back to DevicePlugin) while ResourceClaims hold devices
// of the pool's driver on it: only a DRA driver unprepares a claim, so the
// kubelet could not finish the claims' pods, and a device-plugin agent
// would offer the devices they hold. The status names the nodes held back
// and their claims; a node moves on by itself once they are released.
//
// Thread-safety: pure function.
#ifndef HF_OPERATOR_ROLLOUT_H_
#define HF_OPERATOR_ROLLOUT_H_

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/device_pool.h"
#include "kube/events/event_recorder.h"

namespace hf::controller {

// What the planner needs to know about one node the pool wants.
struct RolloutNodeView {
  bool node_ready = true;  // the Node's Ready condition is True
  // The live agent pod (not terminating), if any.
  struct Pod {
    std::string revision;  // its hashfoundry.com/template-hash
    bool ready = false;
    int restarts = 0;
    std::string waiting_reason;
    std::string last_exit;
    bool dra = false;  // it serves DRA: its devices are in ResourceSlices, not the Node's allocatable
  };
  std::optional<Pod> pod;
  bool pod_terminating = false;  // an agent pod on the node is being deleted
  // Its DevicePoolNode.
  struct Report {
    std::string revision;  // status.agentRevision
    bool registered = false;
    int healthy = 0;
    int allocated = 0;
  };
  std::optional<Report> report;
  std::optional<int64_t> allocatable;  // the Node's allocatable for the resource
  // The devices the node's ResourceSlices of the pool's DRA driver publish.
  std::optional<int64_t> published;
  // For a node whose agent serves DRA: the ResourceClaims holding devices of
  // the pool's driver on it; nullopt while the claims are not listed yet.
  std::optional<int> claims;
};

struct RolloutInput {
  api::RolloutSpec spec;
  api::RolloutStatus previous;
  std::string spec_revision;        // the template the spec asks for
  std::string daemon_set_revision;  // the template the DaemonSet holds; "" before it exists
  // The DaemonSet controller has seen the DaemonSet's current generation, so
  // a deleted agent pod comes back from daemon_set_revision. No node is
  // replaced before.
  bool daemon_set_synced = false;
  std::map<std::string, RolloutNodeView> nodes;  // every node the pool wants
  std::chrono::system_clock::time_point now;
  // The revisions whose agent serves DRA; any other is taken to serve the
  // device plugin API. And the pool's DRA driver, for messages.
  std::set<std::string> dra_revisions;
  std::string dra_driver;
};

struct RolloutEvent {
  kube::EventType type = kube::EventType::kNormal;
  std::string reason;
  std::string message;
};

struct RolloutDecision {
  api::RolloutStatus status;
  // The template the DaemonSet must hold: spec_revision, or an older one
  // pinned after a failure.
  std::string template_revision;
  // Nodes whose agent pod to delete, after `status` is written.
  std::vector<std::string> replace;
  // When to look again if nothing else happens (a deadline, the bake).
  std::optional<std::chrono::milliseconds> requeue_after;
  std::vector<RolloutEvent> events;
};

// The gates, as named in status.rollout.failed[].gate.
inline constexpr char kGateAgentRunning[] = "AgentRunning";
inline constexpr char kGateReported[] = "Reported";
inline constexpr char kGateRegistered[] = "Registered";
inline constexpr char kGateDevicesHealthy[] = "DevicesHealthy";
inline constexpr char kGateAllocatable[] = "Allocatable";
inline constexpr char kGateAgentReady[] = "AgentReady";

// A crashed new agent fails its gate at once after this many restarts.
inline constexpr int kCrashRestarts = 2;
// The largest wave of a managed rollout.
inline constexpr int kMaxWave = static_cast<int>(api::kMaxRolloutNodes);

RolloutDecision PlanRollout(const RolloutInput& in);

// RollingUpdate: the DaemonSet controller rolls; status.rollout only reports
// how far (phase Progressing or Complete).
api::RolloutStatus ObserveRollingUpdate(const RolloutInput& in);

// 3 or "25%" of `total`, rounded up, at least 1.
int ResolveCount(const api::IntOrPercent& v, int total);

}  // namespace hf::controller

#endif  // HF_OPERATOR_ROLLOUT_H_
