// What `kubectl devicepool diagnose` checks, in the order an expert would:
// the CRDs, the operator, the pool's conditions, its selector against the
// labelled nodes, conflicts with other pools, the DaemonSet and its agent
// pods, each node's report against the Node's capacity and allocatable and
// the pods waiting for the resource, monitoring, and recent Warning Events.
//
// Each finding has a severity, the evidence it rests on and the fix. The
// checks read the objects themselves rather than only the pool's status, so
// they hold when the operator that writes that status is not running.
//
// Gathering (from the API) and judging (a pure function of what was read,
// table-tested) are apart.
#ifndef HF_CLI_DIAGNOSE_H_
#define HF_CLI_DIAGNOSE_H_

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/rest/client.h"

namespace hf::cli {

enum class Severity { kWarning, kError };

struct Finding {
  Severity severity = Severity::kWarning;
  std::string check;    // crds, operator, pool, selector, conflict, daemonset, agent, node, report, workloads, monitoring, events
  std::string subject;  // what it is about, e.g. "node worker-1" or "devicepool/gpu"
  std::string message;
  std::vector<std::string> evidence;
  std::string fix;
};

// Everything diagnose reads, as the API server returned it.
struct Snapshot {
  std::string pool;  // the pool asked about
  std::string node;  // --node: only this node's checks; "" for all
  std::chrono::system_clock::time_point now;
  std::map<std::string, nlohmann::json> crds;  // by name, the ones that exist
  std::vector<nlohmann::json> leases;          // the operator's leader Leases, any namespace
  std::vector<nlohmann::json> deployments;     // the operator's Deployments, any namespace
  std::vector<nlohmann::json> pools;           // every DevicePool
  std::vector<nlohmann::json> nodes;           // every Node
  std::vector<nlohmann::json> reports;         // the pool's DevicePoolNodes
  std::vector<nlohmann::json> daemon_sets;     // the pool's agent DaemonSets
  std::vector<nlohmann::json> agent_pods;      // their pods
  std::vector<nlohmann::json> pending_pods;    // every Pending pod
  std::vector<nlohmann::json> events;          // Warning Events (events.k8s.io/v1)
  std::map<std::string, std::string> agent_logs;  // agent pod -> the last lines of its previous run
};

// The leader Lease's name (the operator's --leader-election-id default and
// the chart's) and the operator Deployment's app.kubernetes.io/name.
inline constexpr char kOperatorLeaseName[] = "hashfoundry-device-operator";
inline constexpr char kOperatorAppName[] = "hashfoundry-device-operator";
// The version of the hashfoundry.com CRDs this build speaks.
inline constexpr char kExpectedCrdVersion[] = "v1alpha1";

kube::StatusOr<Snapshot> GatherSnapshot(kube::Client& client, const std::string& pool, const std::string& node);

// The findings, errors first, then in check order.
std::vector<Finding> Diagnose(const Snapshot& s);

// 0 when there are no findings, 1 with warnings only, 2 with an error.
int ExitCode(const std::vector<Finding>& findings);

std::string RenderFindings(const Snapshot& s, const std::vector<Finding>& findings, bool color);
nlohmann::json FindingsJson(const Snapshot& s, const std::vector<Finding>& findings);

}  // namespace hf::cli

#endif  // HF_CLI_DIAGNOSE_H_
