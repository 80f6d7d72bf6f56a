#include "operator/pool_status.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <utility>

#include "api/names.h"
#include "operator/desired.h"

namespace hf::controller {
namespace {

using api::Condition;
using api::ConditionStatus;

void Set(api::DevicePoolStatus& st, std::string_view type, bool value, std::string reason, std::string message,
         int64_t generation, std::chrono::system_clock::time_point now) {
  api::SetCondition(&st.conditions,
                    Condition{std::string(type), value ? ConditionStatus::kTrue : ConditionStatus::kFalse, generation,
                              "", std::move(reason), std::move(message)},
                    now);
}

// obj[key] when it is an object (or null at any step), so a view reads a
// path without checking each level.
const nlohmann::json* Field(const nlohmann::json* obj, const char* key) {
  if (obj == nullptr || !obj->is_object()) return nullptr;
  auto it = obj->find(key);
  return it == obj->end() ? nullptr : &*it;
}

int64_t Int(const nlohmann::json* v) { return v != nullptr && v->is_number_integer() ? v->get<int64_t>() : 0; }

std::string JoinFirst(const std::vector<std::string>& items, size_t max) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < max; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > max) out += " and " + std::to_string(items.size() - max) + " more";
  return out;
}

// At most `max` bytes, never splitting a UTF-8 sequence: the CRD bounds
// messages, and a write the server refuses would freeze the whole status.
std::string Truncate(std::string s, size_t max) {
  if (s.size() <= max) return s;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  return s;
}

constexpr size_t kProblemMessageMax = 1024;  // the CRD's maxLength

int Rank(std::string_view reason) {
  static constexpr std::string_view kOrder[] = {kNodeNotReady,       kAgentCrashLooping, kAgentNotRunning,
                                                kAgentNotReady,      kReportMissing,     kAgentNotRegistered,
                                                kResourceNotAdvertised, kDevicesUnhealthy, kConflict};
  for (size_t i = 0; i < std::size(kOrder); ++i) {
    if (kOrder[i] == reason) return static_cast<int>(i);
  }
  return static_cast<int>(std::size(kOrder));
}

// Collects a node's problems; Finish makes one entry of them.
struct NodeProblems {
  std::string node;
  std::vector<std::pair<std::string_view, std::string>> items;  // reason, message

  void Add(std::string_view reason, std::string message) { items.emplace_back(reason, std::move(message)); }

  api::ProblemNode Finish() const {
    std::string_view worst = items.front().first;
    std::string message;
    for (const auto& [reason, msg] : items) {
      if (Rank(reason) < Rank(worst)) worst = reason;
      message += (message.empty() ? "" : "; ") + msg;
    }
    return {node, std::string(worst), Truncate(std::move(message), kProblemMessageMax)};
  }
};

bool CrashLooping(const AgentPod& pod) {
  return pod.waiting_reason == "CrashLoopBackOff" || (pod.restarts >= 2 && !pod.ready);
}

std::string Plural(int n, const char* what) { return std::to_string(n) + " " + what + (n == 1 ? "" : "s"); }

}  // namespace

api::DevicePoolStatus ComputeStatus(const api::DevicePool& pool, const Observed& seen,
                                    std::chrono::system_clock::time_point now) {
  const int64_t gen = pool.metadata.generation;
  api::DevicePoolStatus st;
  st.conditions = pool.status.conditions;
  st.observed_generation = gen;
  st.nodes.selected = seen.selected;
  st.nodes.labelled = seen.labelled;

  std::vector<NodeProblems> problems;
  std::vector<std::string> unregistered, unhealthy, not_ready_nodes, crashing;
  std::string first_crash;  // the first crash-looping node's message
  int agents_ready = 0;
  for (const auto& [name, n] : seen.nodes) {
    NodeProblems p{name, {}};
    const bool node_ready = n.ready == "True";
    const bool running = n.agent && !n.agent->terminating;
    if (!node_ready) {
      not_ready_nodes.push_back(name);
      p.Add(kNodeNotReady, "the Node's Ready condition is " + (n.ready.empty() ? std::string("missing") : n.ready) +
                               ": its report is stale");
    }
    if (!n.agent) {
      p.Add(kAgentNotRunning, "no agent pod runs on the node");
    } else if (n.agent->terminating) {
      p.Add(kAgentNotRunning, "agent pod " + n.agent->name + " is terminating");
    } else if (CrashLooping(*n.agent)) {
      crashing.push_back(name);
      std::string msg = "agent pod " + n.agent->name + " is crash-looping (" + Plural(n.agent->restarts, "restart") +
                        ")" + (n.agent->last_exit.empty() ? "" : "; last exit: " + n.agent->last_exit);
      if (first_crash.empty()) first_crash = name + ": " + msg;
      p.Add(kAgentCrashLooping, std::move(msg));
    } else if (!n.agent->ready) {
      p.Add(kAgentNotReady, "agent pod " + n.agent->name + " is not ready" +
                                (n.agent->waiting_reason.empty() ? "" : " (" + n.agent->waiting_reason + ")") +
                                (n.agent->last_exit.empty() ? "" : "; last exit: " + n.agent->last_exit));
    }
    if (node_ready && running && n.agent->ready && n.agent->current) ++agents_ready;

    if (!n.report) {
      if (running) p.Add(kReportMissing, "the agent has not written its DevicePoolNode");
    } else {
      const auto& r = *n.report;
      // Devices exist and stay allocated while a node is away, but only a
      // live agent can vouch for their health or its registration.
      const bool fresh = node_ready && running;
      // A DRA node's counts as its slices and claims show them, where known.
      const api::DeviceCounts counts{n.total.value_or(r.status.counts.total),
                                     n.healthy.value_or(r.status.counts.healthy),
                                     n.allocated.value_or(r.status.counts.allocated)};
      st.devices.total += counts.total;
      st.devices.allocated += counts.allocated;
      if (fresh) {
        st.devices.healthy += counts.healthy;
        if (r.status.registered && !n.advertised) {
          // Registered, but the scheduler cannot place a pod there until
          // the kubelet's next node status lists the resource (or the
          // agent's ResourceSlice is published).
          p.Add(kResourceNotAdvertised,
                n.agent->dra ? "the agent is registered but publishes no ResourceSlice of driver " +
                                   api::DraDriverName(pool.metadata.name) + " yet"
                             : "the agent is registered but the Node does not list " + pool.spec.resource_name +
                                   " yet");
        } else if (r.status.registered) {
          ++st.nodes.registered;
          if (n.agent->ready) ++st.nodes.ready;
        } else {
          unregistered.push_back(name);
          p.Add(kAgentNotRegistered, "the agent is not registered with the kubelet");
        }
        int bad = counts.total - counts.healthy;
        if (bad > 0) {
          unhealthy.push_back(name);
          p.Add(kDevicesUnhealthy,
                std::to_string(bad) + " of " + std::to_string(counts.total) + " devices unhealthy");
        }
      }
    }
    if (!p.items.empty()) problems.push_back(std::move(p));
  }
  std::vector<std::string> conflicted;
  for (const auto& [node, other] : seen.conflicts) {
    conflicted.push_back(node);
    // One entry per node (the CRD's list-map key), whatever the input.
    auto it = std::find_if(problems.begin(), problems.end(), [&node = node](const NodeProblems& p) { return p.node == node; });
    if (it == problems.end()) it = problems.insert(problems.end(), NodeProblems{node, {}});
    it->Add(kConflict, "claimed by older pool " + other + " with the same resourceName");
  }
  for (const auto& p : problems) st.problem_nodes.push_back(p.Finish());
  // One entry per node (the CRD's list-map key), the most severe first.
  std::stable_sort(st.problem_nodes.begin(), st.problem_nodes.end(),
                   [](const api::ProblemNode& a, const api::ProblemNode& b) {
                     return std::make_pair(Rank(a.reason), a.node) < std::make_pair(Rank(b.reason), b.node);
                   });
  if (st.problem_nodes.size() > api::kMaxProblemNodes) st.problem_nodes.resize(api::kMaxProblemNodes);

  bool ds_observed = false;
  if (seen.daemon_set) {
    const DaemonSetView& ds = *seen.daemon_set;
    // Counts never exceed what they count: the DaemonSet controller still
    // counts the pod of a deleted Node until it is garbage collected.
    st.daemon_set = {ds.desired, std::min(ds.updated, ds.desired), std::min(ds.ready, ds.desired),
                     std::min(ds.available, ds.desired)};
    ds_observed = ds.Synced();
  }
  const bool rolled_out =
      ds_observed && agents_ready == seen.labelled && static_cast<int>(seen.nodes.size()) == seen.labelled;

  if (!conflicted.empty()) {
    Set(st, api::kConditionConflict, true, "NodesClaimedByOlderPool",
        "nodes " + JoinFirst(conflicted, 5) + " are claimed by an older pool with resourceName " +
            pool.spec.resource_name + "; this pool does not use them",
        gen, now);
  } else {
    Set(st, api::kConditionConflict, false, "NoConflict", "no other pool claims these nodes", gen, now);
  }
  Set(st, api::kConditionInvalid, false, "Valid", "the spec is valid", gen, now);

  if (!seen.monitoring_wanted) {
    Set(st, api::kConditionMonitoringAvailable, false, "Disabled", "ServiceMonitor and PrometheusRule are disabled",
        gen, now);
  } else if (seen.monitoring_served) {
    Set(st, api::kConditionMonitoringAvailable, true, "MonitoringCreated",
        "ServiceMonitor and PrometheusRule are in place", gen, now);
  } else {
    Set(st, api::kConditionMonitoringAvailable, false, "CRDsNotInstalled",
        "monitoring.coreos.com ServiceMonitor/PrometheusRule are not served; they are created once the "
        "Prometheus Operator CRDs are installed",
        gen, now);
  }

  const std::string device_class = api::DraDriverName(pool.metadata.name);
  const bool dra_missing = seen.device_class_wanted && !seen.dra_served;
  if (dra_missing) {
    Set(st, api::kConditionDeviceClassAvailable, false, "DRANotServed",
        "resource.k8s.io/v1 DeviceClasses are not served (Kubernetes 1.34 or later serves them): no pod gets a "
        "device through DRA",
        gen, now);
  } else if (seen.device_class_wanted && seen.extended_resource_dropped) {
    Set(st, api::kConditionDeviceClassAvailable, false, "ExtendedResourceNotSupported",
        "DeviceClass " + device_class + " is in place, but the API server dropped its extendedResourceName (feature "
        "gate DRAExtendedResource is off): pods asking for " + pool.spec.resource_name +
            " in resources.limits are not served on DRA nodes, only pods with ResourceClaims of the class",
        gen, now);
  } else if (seen.device_class_wanted && !seen.extended_resource_keeper.empty()) {
    Set(st, api::kConditionDeviceClassAvailable, false, "ExtendedResourceTaken",
        "DeviceClass " + device_class + " is in place without an extendedResourceName: older DRA pool " +
            seen.extended_resource_keeper + "'s DeviceClass serves pods asking for " + pool.spec.resource_name +
            " in resources.limits (Kubernetes serves an extended resource from one class only); this pool's devices "
            "go to pods with ResourceClaims of class " + device_class + ", or give the pool its own resourceName",
        gen, now);
  } else if (seen.device_class_wanted) {
    Set(st, api::kConditionDeviceClassAvailable, true, "DeviceClassCreated",
        "DeviceClass " + device_class + " selects the devices of driver " + device_class + "; pods asking for " +
            pool.spec.resource_name + " are served through DRA on the nodes whose agent serves DRA",
        gen, now);
  } else if (api::FindCondition(st.conditions, api::kConditionDeviceClassAvailable) != nullptr) {
    // Only pools that once used DRA carry the condition.
    Set(st, api::kConditionDeviceClassAvailable, false, "DevicePlugin",
        "the pool uses the device plugin API and no agent serves DRA any more; its DeviceClass is removed", gen, now);
  }

  bool registered_all = st.nodes.registered == seen.labelled;
  bool degraded = !seen.error.empty() || dra_missing || !crashing.empty() || !not_ready_nodes.empty() || !unhealthy.empty() ||
                  (rolled_out && !unregistered.empty());
  using api::RolloutPhase;
  if (seen.rollout) st.rollout = *seen.rollout;
  const RolloutPhase phase = st.rollout.phase;
  const bool rollout_failed = phase == RolloutPhase::kFailed || phase == RolloutPhase::kRolledBack;
  // A failed rollout is Degraded (the spec asks for what does not run), but
  // the last good agents still serve: Ready stays what they show.
  if (!seen.error.empty()) {
    Set(st, api::kConditionDegraded, true, "ReconcileError", seen.error, gen, now);
  } else if (dra_missing) {
    Set(st, api::kConditionDegraded, true, "DRANotServed",
        "the pool's agents serve DRA, but resource.k8s.io/v1 is not served; set allocationAPI to DevicePlugin or "
        "upgrade the cluster to Kubernetes 1.34 or later",
        gen, now);
  } else if (rollout_failed) {
    // Until the spec's template changes: the spec asks for what does not run.
    Set(st, api::kConditionDegraded, true, phase == RolloutPhase::kFailed ? "RolloutFailed" : "RolledBack",
        st.rollout.message, gen, now);
  } else if (!crashing.empty()) {
    Set(st, api::kConditionDegraded, true, std::string(kAgentCrashLooping),
        "the agent is crash-looping on " + JoinFirst(crashing, 5) + "; " + first_crash, gen, now);
  } else if (!not_ready_nodes.empty()) {
    Set(st, api::kConditionDegraded, true, "NodesNotReady",
        "node(s) " + JoinFirst(not_ready_nodes, 5) +
            " are not Ready; their devices are not counted as healthy until the node is back",
        gen, now);
  } else if (!unhealthy.empty()) {
    Set(st, api::kConditionDegraded, true, std::string(kDevicesUnhealthy),
        std::to_string(st.devices.total - st.devices.healthy) + " unhealthy device(s) on " + JoinFirst(unhealthy, 5),
        gen, now);
  } else if (rolled_out && !unregistered.empty()) {
    Set(st, api::kConditionDegraded, true, std::string(kAgentNotRegistered),
        "the agent is not registered with the kubelet on " + JoinFirst(unregistered, 5), gen, now);
  } else {
    Set(st, api::kConditionDegraded, false, "AsExpected", "all devices healthy", gen, now);
  }

  const bool rolling = phase == RolloutPhase::kCanary || phase == RolloutPhase::kProgressing ||
                       phase == RolloutPhase::kPaused ||
                       (phase == RolloutPhase::kRolledBack && st.rollout.completion_time.empty());
  if (seen.labelled > 0 && rolling && seen.error.empty()) {
    // A managed rollout: Progressing says where it stands; Ready stays what
    // the agents show.
    static const std::map<RolloutPhase, std::string> kReasons = {{RolloutPhase::kCanary, "RolloutCanary"},
                                                                  {RolloutPhase::kProgressing, "RollingOut"},
                                                                  {RolloutPhase::kPaused, "RolloutPaused"},
                                                                  {RolloutPhase::kRolledBack, "RollingBack"}};
    Set(st, api::kConditionProgressing, true, kReasons.at(phase),
        "revision " + st.rollout.update_revision.substr(0, 10) + ": " + st.rollout.message, gen, now);
    const bool ready = rolled_out && registered_all && !degraded;
    std::string msg = std::to_string(agents_ready) + "/" + std::to_string(seen.labelled) + " agents ready, " +
                      std::to_string(st.nodes.registered) + " registered with the kubelet";
    Set(st, api::kConditionReady, ready, ready ? "AgentsReady" : degraded ? "Degraded" : "AgentsNotReady",
        degraded ? "see the Degraded condition" : msg, gen, now);
    return st;
  }
  if (seen.labelled == 0) {
    std::string msg =
        seen.selected > 0
            ? "every node the nodeSelector matches is held by an older pool; nothing to run"
            : "no node matches the nodeSelector" +
                  (seen.node_selector.empty() ? std::string() : " (" + seen.node_selector + ")") +
                  "; label the nodes that have the devices, e.g. kubectl label node <node> " +
                  (seen.node_selector.empty() ? std::string("<key>=<value>") : seen.node_selector);
    Set(st, api::kConditionProgressing, false, "NoMatchingNodes", msg, gen, now);
    Set(st, api::kConditionReady, !degraded, degraded ? "Degraded" : "NoMatchingNodes",
        degraded ? "see the Degraded condition" : msg, gen, now);
  } else if (!rolled_out || !registered_all) {
    std::string msg = std::to_string(agents_ready) + "/" + std::to_string(seen.labelled) + " agents ready, " +
                      std::to_string(st.nodes.registered) + " registered with the kubelet";
    // Say why, not only that: the first problem node and what is wrong there.
    for (const auto& p : st.problem_nodes) {
      if (p.reason == kConflict) continue;
      msg += "; " + p.node + ": " + p.message;
      break;
    }
    Set(st, api::kConditionProgressing, true, "RollingOut", msg, gen, now);
    Set(st, api::kConditionReady, false, "AgentsNotReady", msg, gen, now);
  } else {
    std::string msg = std::to_string(seen.labelled) + " node(s), " + std::to_string(st.devices.healthy) + "/" +
                      std::to_string(st.devices.total) + " devices healthy";
    Set(st, api::kConditionProgressing, false, "RolloutComplete", msg, gen, now);
    Set(st, api::kConditionReady, !degraded, degraded ? "Degraded" : "AgentsReady",
        degraded ? "see the Degraded condition" : msg, gen, now);
  }
  return st;
}

api::DevicePoolStatus DeletingStatus(const kube::ObjectMeta& meta, const api::DevicePoolStatus& current,
                                     const std::string& driver, const std::vector<std::string>& holding,
                                     std::chrono::system_clock::time_point now) {
  api::DevicePoolStatus st = current;
  const int64_t gen = meta.generation;
  if (holding.empty()) {
    const Condition* progressing = api::FindCondition(st.conditions, api::kConditionProgressing);
    if (progressing == nullptr || progressing->reason != kWaitingForClaims) return st;
    const std::string msg = "the pool is being deleted and no ResourceClaim holds devices of driver " + driver +
                            " any more; its agents stop";
    Set(st, api::kConditionProgressing, false, std::string(kAgentsStopping), msg, gen, now);
    Set(st, api::kConditionReady, false, std::string(kAgentsStopping), msg, gen, now);
    return st;
  }
  const int n = static_cast<int>(holding.size());
  const std::string msg = "the pool is being deleted; its DeviceClass is gone, and its agents stay until " +
                          Plural(n, "ResourceClaim") + " holding devices of driver " + driver +
                          " are released (delete the pods that use them): " + JoinFirst(holding, 5);
  Set(st, api::kConditionProgressing, true, std::string(kWaitingForClaims), msg, gen, now);
  Set(st, api::kConditionReady, false, std::string(kWaitingForClaims), msg, gen, now);
  return st;
}

api::DevicePoolStatus InvalidStatus(const kube::ObjectMeta& meta, const api::DevicePoolStatus& current,
                                    const std::string& why, std::chrono::system_clock::time_point now) {
  api::DevicePoolStatus st = current;
  st.observed_generation = meta.generation;
  Set(st, api::kConditionInvalid, true, "InvalidSpec", why, meta.generation, now);
  Set(st, api::kConditionReady, false, "InvalidSpec", "the spec is invalid; see the Invalid condition",
      meta.generation, now);
  Set(st, api::kConditionProgressing, false, "InvalidSpec", "nothing is rolled out for an invalid spec",
      meta.generation, now);
  return st;
}

DaemonSetView DaemonSetView::Of(const nlohmann::json& ds) {
  const nlohmann::json* status = Field(&ds, "status");
  const nlohmann::json* annotation =
      Field(Field(Field(Field(Field(&ds, "spec"), "template"), "metadata"), "annotations"), kTemplateHashAnnotation);
  DaemonSetView v;
  v.generation = Int(Field(Field(&ds, "metadata"), "generation"));
  v.observed_generation = Int(Field(status, "observedGeneration"));
  v.desired = static_cast<int>(Int(Field(status, "desiredNumberScheduled")));
  v.updated = static_cast<int>(Int(Field(status, "updatedNumberScheduled")));
  v.ready = static_cast<int>(Int(Field(status, "numberReady")));
  v.available = static_cast<int>(Int(Field(status, "numberAvailable")));
  if (annotation != nullptr && annotation->is_string()) v.template_hash = annotation->get<std::string>();
  return v;
}

}  // namespace hf::controller
