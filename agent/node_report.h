// The agent's DevicePoolNode, built from what it observes by pure functions
// so the report is tested without an API server: the object (metadata with
// the pool's ownerReference, and spec) and its status (physical devices,
// advertised counts, registration, the DiscoveryFailed condition).
//
// Thread-safety: plain values and pure functions.
#ifndef HF_AGENT_NODE_REPORT_H_
#define HF_AGENT_NODE_REPORT_H_

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/device_store.h"
#include "api/device_pool_node.h"

namespace hf::agent {

inline constexpr char kFieldManager[] = "devicepool-agent";
inline constexpr char kConditionDiscoveryFailed[] = "DiscoveryFailed";

struct ReportIdentity {
  std::string pool;
  std::string pool_uid;  // empty: no ownerReference
  std::string node;
};

struct Observation {
  std::shared_ptr<const DeviceState> devices;
  bool registered = false;
  int allocated = 0;
  std::string discovery;  // Scanner::Describe()
  std::string revision;   // Config::revision, reported as agentRevision
};

// The status for `observed`. Conditions start from `previous` so a
// condition whose status stays keeps its lastTransitionTime.
api::DevicePoolNodeStatus BuildReportStatus(const Observation& observed, const std::vector<api::Condition>& previous,
                                            std::chrono::system_clock::time_point now);

// The whole object, for server-side apply of metadata and spec.
nlohmann::json ReportObject(const ReportIdentity& identity);

// apiVersion, kind, name and status: server-side apply on the status
// subresource.
nlohmann::json ReportStatusPatch(const ReportIdentity& identity, const api::DevicePoolNodeStatus& status);

}  // namespace hf::agent

#endif  // HF_AGENT_NODE_REPORT_H_
