// ComputeStatus: the DevicePool status the operator writes, as a pure function
// of what the reconciler observed, so every condition and count is
// golden-tested. Conditions keep their lastTransitionTime while their status
// stays the same, so a resync with nothing new produces an equal status and
// no write.
//
// Thread-safety: pure function.
#ifndef HF_OPERATOR_POOL_STATUS_H_
#define HF_OPERATOR_POOL_STATUS_H_

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/device_pool.h"
#include "api/device_pool_node.h"

namespace hf::controller {

// An agent pod as the status needs it.
struct AgentPod {
  std::string name;
  bool ready = false;        // its Ready condition
  bool current = true;       // runs the DaemonSet's current pod template
  bool terminating = false;  // has a deletionTimestamp
  int restarts = 0;
  std::string waiting_reason;  // the agent container's state.waiting.reason, e.g. CrashLoopBackOff
  std::string last_exit;       // its lastState.terminated: exit code and termination message
  bool dra = false;            // it serves DRA
};

// What is known about one node the pool wants to run on.
struct ObservedNode {
  // The Node's Ready condition status: "True", "False", "Unknown", or "" when
  // the Node reports none.
  std::string ready = "True";
  // The Node's status.allocatable lists the pool's resource name (for an
  // agent serving DRA: a ResourceSlice of the pool's driver is published for
  // the node): until then the scheduler places no pod there, so a registered
  // agent does not count as registered yet.
  bool advertised = true;
  std::optional<AgentPod> agent;               // the agent pod bound to it
  std::optional<api::DevicePoolNode> report;   // its DevicePoolNode
  // For a node whose agent serves DRA, its devices as the API shows them, in
  // place of its report's counts (each nullopt until known, the report's
  // count meanwhile): total and healthy (not tainted unhealthy) from its
  // newest ResourceSlices of the pool's driver; allocated, those held by
  // ResourceClaims of the driver or through the device plugin API (tainted
  // in its slices), each device once.
  std::optional<int> total, healthy, allocated;
};

// What the operator reads of a DaemonSet as the server holds it, read from
// its JSON in one place.
struct DaemonSetView {
  int64_t generation = 0;
  int64_t observed_generation = 0;  // status.observedGeneration
  int desired = 0;                  // status.desiredNumberScheduled
  int updated = 0;                  // status.updatedNumberScheduled
  int ready = 0;                    // status.numberReady
  int available = 0;                // status.numberAvailable
  std::string template_hash;        // the pod template's hashfoundry.com/template-hash annotation
  // The DaemonSet controller has seen the current spec.
  bool Synced() const { return observed_generation >= generation; }
  static DaemonSetView Of(const nlohmann::json& daemon_set);
};

struct Observed {
  int selected = 0;  // nodes matching the selector
  int labelled = 0;  // of those, carrying the pool label now
  // Nodes an older pool with the same resource name keeps, and that pool.
  std::map<std::string, std::string> conflicts;  // node -> pool
  // Every node the pool wants (selected and not held by an older pool).
  std::map<std::string, ObservedNode> nodes;
  // The DaemonSet as the server holds it; nullopt before it exists.
  std::optional<DaemonSetView> daemon_set;
  std::string node_selector;       // the pool's selector, as a labelSelector string
  bool monitoring_wanted = false;  // ServiceMonitor or PrometheusRule enabled
  bool monitoring_served = false;  // their CRDs are installed
  // The pool's DeviceClass: wanted while the spec says DRA or agents still
  // serve DRA; resource.k8s.io/v1 served; and whether the API server kept its
  // extendedResourceName (it drops it while DRAExtendedResource is off).
  bool device_class_wanted = false;
  bool dra_served = true;
  bool extended_resource_dropped = false;
  // The older DRA pool whose DeviceClass carries the resourceName as its
  // extendedResourceName, so this pool's does not; "" when none.
  std::string extended_resource_keeper;
  std::string error;               // a reconcile step failed, or ""
  // Where the agent rollout stands (operator/rollout.h); nullopt leaves
  // status.rollout as it was.
  std::optional<api::RolloutStatus> rollout;
};

// Per-node problems, most severe first; a node with several is listed once
// under the most severe reason, with every message.
inline constexpr std::string_view kNodeNotReady = "NodeNotReady";
inline constexpr std::string_view kAgentCrashLooping = "AgentCrashLooping";
inline constexpr std::string_view kAgentNotRunning = "AgentNotRunning";
inline constexpr std::string_view kAgentNotReady = "AgentNotReady";
inline constexpr std::string_view kReportMissing = "ReportMissing";
inline constexpr std::string_view kAgentNotRegistered = "AgentNotRegistered";
inline constexpr std::string_view kResourceNotAdvertised = "ResourceNotAdvertised";
inline constexpr std::string_view kDevicesUnhealthy = "DevicesUnhealthy";
inline constexpr std::string_view kConflict = "Conflict";

// Only a report from a Ready node with a running agent pod counts as
// registered or healthy: anything else is stale. A registration counts once
// the Node advertises the resource, so Ready means pods can be scheduled.
api::DevicePoolStatus ComputeStatus(const api::DevicePool& pool, const Observed& seen,
                                    std::chrono::system_clock::time_point now);

// A deleted pool that used DRA keeps its agents while ResourceClaims hold
// devices of its driver (`holding`, "namespace/name"): Ready False and
// Progressing True with reason WaitingForClaims, naming them. Once none
// does, after such a wait, both say AgentsStopping (Progressing's
// lastTransitionTime is then when the agents were let go); without a wait
// the status is `current`.
inline constexpr std::string_view kWaitingForClaims = "WaitingForClaims";
inline constexpr std::string_view kAgentsStopping = "AgentsStopping";
api::DevicePoolStatus DeletingStatus(const kube::ObjectMeta& meta, const api::DevicePoolStatus& current,
                                     const std::string& driver, const std::vector<std::string>& holding,
                                     std::chrono::system_clock::time_point now);

// The status of a pool whose spec could not be decoded.
api::DevicePoolStatus InvalidStatus(const kube::ObjectMeta& meta, const api::DevicePoolStatus& current,
                                    const std::string& why, std::chrono::system_clock::time_point now);

}  // namespace hf::controller

#endif  // HF_OPERATOR_POOL_STATUS_H_
