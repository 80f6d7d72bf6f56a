#include "agent/node_report.h"

#include "agent/version.h"
#include "api/names.h"

namespace hf::agent {
namespace {

api::DevicePoolNode Skeleton(const ReportIdentity& identity) {
  api::DevicePoolNode dpn;
  dpn.spec.pool = identity.pool;
  dpn.spec.node = identity.node;
  if (!identity.pool_uid.empty()) {
    // The pool owns the report, so deleting the pool collects it. Not
    // blockOwnerDeletion: that needs update rights on the pool's
    // finalizers, which an agent has no business holding.
    dpn.metadata.owner_references.push_back(kube::OwnerReference{std::string(api::kApiVersion),
                                                                 std::string(api::kDevicePoolKind), identity.pool,
                                                                 identity.pool_uid, true, false});
  }
  return dpn;
}

}  // namespace

api::DevicePoolNodeStatus BuildReportStatus(const Observation& observed, const std::vector<api::Condition>& previous,
                                            std::chrono::system_clock::time_point now) {
  api::DevicePoolNodeStatus s;
  const DeviceSet& set = observed.devices->set;
  for (const Device& d : set.devices()) {
    s.devices.push_back({d.id, d.healthy ? api::DeviceHealth::kHealthy : api::DeviceHealth::kUnhealthy, d.numa_node,
                         d.nodes.empty() ? "" : d.nodes.front().host_path});
  }
  s.counts = {set.Total(), set.Healthy(), observed.allocated};
  s.registered = observed.registered;
  s.agent_version = std::string(kAgentVersion);
  s.agent_revision = observed.revision;
  s.conditions = previous;
  api::Condition c;
  c.type = kConditionDiscoveryFailed;
  if (observed.devices->scan_error.empty()) {
    c.status = api::ConditionStatus::kFalse;
    c.reason = "Scanned";
    c.message = observed.discovery + ": found " + std::to_string(set.devices().size()) + " devices";
  } else {
    c.status = api::ConditionStatus::kTrue;
    c.reason = "ScanFailed";
    c.message = observed.discovery + ": " + observed.devices->scan_error;
  }
  api::SetCondition(&s.conditions, std::move(c), now);
  return s;
}

nlohmann::json ReportObject(const ReportIdentity& identity) {
  nlohmann::json obj = api::EncodeDevicePoolNode(Skeleton(identity));
  obj.erase("status");
  return obj;
}

nlohmann::json ReportStatusPatch(const ReportIdentity& identity, const api::DevicePoolNodeStatus& status) {
  api::DevicePoolNode dpn = Skeleton(identity);
  dpn.status = status;
  nlohmann::json full = api::EncodeDevicePoolNode(dpn);
  return {{"apiVersion", full["apiVersion"]},
          {"kind", full["kind"]},
          {"metadata", {{"name", full["metadata"]["name"]}}},
          {"status", full["status"]}};
}

}  // namespace hf::agent
