#include "operator/pool_status.h"

#include "api/names.h"

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

int Int(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number_integer() ? it->get<int>() : 0;
}

std::string JoinFirst(const std::vector<std::string>& items, size_t max) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < max; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > max) out += " and " + std::to_string(items.size() - max) + " more";
  return out;
}

}  // namespace

api::DevicePoolStatus ComputeStatus(const api::DevicePool& pool, const Observed& seen,
                                    std::chrono::system_clock::time_point now) {
  const int64_t gen = pool.metadata.generation;
  api::DevicePoolStatus st;
  st.conditions = pool.status.conditions;
  st.observed_generation = gen;
  st.nodes.selected = seen.selected;
  st.nodes.labelled = seen.labelled;

  std::vector<std::string> unregistered, unhealthy;
  for (const auto& r : seen.reports) {
    if (r.status.registered) ++st.nodes.registered;
    st.devices.total += r.status.counts.total;
    st.devices.healthy += r.status.counts.healthy;
    st.devices.allocated += r.status.counts.allocated;
    int bad = r.status.counts.total - r.status.counts.healthy;
    if (bad > 0) {
      unhealthy.push_back(r.spec.node);
      st.problem_nodes.push_back({r.spec.node, "DevicesUnhealthy",
                                  std::to_string(bad) + " of " + std::to_string(r.status.counts.total) +
                                      " devices unhealthy"});
    }
    if (!r.status.registered) {
      unregistered.push_back(r.spec.node);
      st.problem_nodes.push_back({r.spec.node, "AgentNotRegistered", "the agent is not registered with the kubelet"});
    }
  }
  std::vector<std::string> conflicted;
  for (const auto& [node, other] : seen.conflicts) {
    conflicted.push_back(node);
    st.problem_nodes.push_back({node, "Conflict", "claimed by older pool " + other + " with the same resourceName"});
  }
  if (st.problem_nodes.size() > api::kMaxProblemNodes) st.problem_nodes.resize(api::kMaxProblemNodes);

  bool rolled_out = false;
  if (seen.daemon_set) {
    const auto& ds = *seen.daemon_set;
    auto status = ds.value("status", nlohmann::json::object());
    st.daemon_set = {Int(status, "desiredNumberScheduled"), Int(status, "updatedNumberScheduled"),
                     Int(status, "numberReady"), Int(status, "numberAvailable")};
    auto md = ds.value("metadata", nlohmann::json::object());
    bool observed = Int(status, "observedGeneration") >= Int(md, "generation");
    rolled_out = observed && st.daemon_set.updated == st.daemon_set.desired &&
                 st.daemon_set.available == st.daemon_set.desired && st.daemon_set.desired == seen.labelled;
  }
  st.nodes.ready = std::min(st.daemon_set.ready, st.nodes.registered);

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

  bool registered_all = st.nodes.registered == seen.labelled && static_cast<int>(seen.reports.size()) == seen.labelled;
  bool degraded = !seen.error.empty() || !unhealthy.empty() || (rolled_out && !unregistered.empty());
  if (!seen.error.empty()) {
    Set(st, api::kConditionDegraded, true, "ReconcileError", seen.error, gen, now);
  } else if (!unhealthy.empty()) {
    Set(st, api::kConditionDegraded, true, "DevicesUnhealthy",
        std::to_string(st.devices.total - st.devices.healthy) + " unhealthy device(s) on " + JoinFirst(unhealthy, 5),
        gen, now);
  } else if (rolled_out && !unregistered.empty()) {
    Set(st, api::kConditionDegraded, true, "AgentNotRegistered",
        "the agent is not registered with the kubelet on " + JoinFirst(unregistered, 5), gen, now);
  } else {
    Set(st, api::kConditionDegraded, false, "AsExpected", "all devices healthy", gen, now);
  }

  if (seen.labelled == 0) {
    Set(st, api::kConditionProgressing, false, "NoMatchingNodes", "no node matches the nodeSelector", gen, now);
    Set(st, api::kConditionReady, !degraded, degraded ? "Degraded" : "NoMatchingNodes",
        degraded ? "see the Degraded condition" : "no node matches the nodeSelector; nothing to run", gen, now);
  } else if (!rolled_out || !registered_all) {
    std::string msg = std::to_string(st.daemon_set.available) + "/" + std::to_string(seen.labelled) +
                      " agents available, " + std::to_string(st.nodes.registered) + " registered with the kubelet";
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

}  // namespace hf::controller
