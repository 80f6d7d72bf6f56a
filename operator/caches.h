// The compact objects the operator caches, and the informers that hold them.
// Nodes are metadata only (labels, no annotations): a 5000-node cluster costs
// a few hundred bytes a node, never whole Node objects.
//
// Thread-safety: values; the informers are thread-safe.
#ifndef HF_OPERATOR_CACHES_H_
#define HF_OPERATOR_CACHES_H_

#include <nlohmann/json.hpp>
#include <map>
#include <optional>
#include <string>

#include "api/device_pool.h"
#include "api/device_pool_node.h"
#include "kube/cache/on_demand_informer.h"
#include "kube/cache/shared_informer.h"
#include "kube/meta/object_meta.h"

namespace hf::controller {

// A DevicePool as cached: decoded when valid, otherwise the reason it is not,
// so an invalid pool still reaches the reconciler and gets an Invalid
// condition instead of being skipped.
struct PoolEntry {
  kube::ObjectMeta metadata;
  std::optional<api::DevicePool> pool;
  std::string invalid;  // why `pool` is empty
  api::DevicePoolStatus status;  // as stored, read even when the spec is invalid
};
std::optional<PoolEntry> DecodePoolEntry(const nlohmann::json& obj);

// A Node: labels (no annotations), its Ready condition and its allocatable
// extended resources. Heartbeats change none of these, so an update that
// leaves the entry equal concerns no pool.
struct NodeEntry {
  kube::ObjectMeta metadata;
  std::string ready;  // the Ready condition's status, "" when absent
  std::map<std::string, std::string> allocatable;  // only names with a '/'
  bool SameAs(const NodeEntry& o) const {
    return metadata.labels == o.metadata.labels && ready == o.ready && allocatable == o.allocatable;
  }
};
std::optional<NodeEntry> DecodeNodeEntry(const nlohmann::json& obj);

// An agent pod: where it runs and how its agent container is doing.
struct AgentPodEntry {
  kube::ObjectMeta metadata;  // labels include hashfoundry.com/pool
  std::string node;           // spec.nodeName
  std::string template_hash;  // the hashfoundry.com/template-hash annotation
  bool ready = false;
  int restarts = 0;
  std::string waiting_reason;
  std::string last_exit;  // "exit code N (Reason): message" of lastState.terminated
  bool operator==(const AgentPodEntry&) const = default;
};
std::optional<AgentPodEntry> DecodeAgentPodEntry(const nlohmann::json& obj);

// A child (DaemonSet, ServiceAccount, ...) as the server holds it, without
// managedFields, to compare with what we would apply.
struct ChildEntry {
  kube::ObjectMeta metadata;
  nlohmann::json object;
};
// Takes the object (it is the entry), unless it returns nullopt.
std::optional<ChildEntry> DecodeChildEntry(nlohmann::json&& obj);

std::optional<api::DevicePoolNode> DecodePoolNodeEntry(const nlohmann::json& obj);

// Index names.
inline constexpr char kByPoolLabelIndex[] = "pool-labels";  // nodes: each devicepool.hashfoundry.com/<pool> key
inline constexpr char kByPoolIndex[] = "pool";              // devicepoolnodes: spec.pool; agent pods: pool label

struct Caches {
  kube::SharedInformer<PoolEntry>& pools;
  kube::SharedInformer<NodeEntry>& nodes;
  kube::SharedInformer<api::DevicePoolNode>& pool_nodes;
  kube::SharedInformer<ChildEntry>& daemon_sets;
  kube::SharedInformer<ChildEntry>& service_accounts;
  kube::SharedInformer<ChildEntry>& services;
  kube::SharedInformer<ChildEntry>& bindings;
  kube::SharedInformer<AgentPodEntry>& agent_pods;
  // Run while the monitoring.coreos.com CRDs are served; null where the
  // caller has none (the reconciler then reads the server).
  kube::OnDemandInformer<ChildEntry>* service_monitors = nullptr;
  kube::OnDemandInformer<ChildEntry>* prometheus_rules = nullptr;
};

// Adds the indexes above to informers built by the caller.
void AddIndexes(Caches& caches);

}  // namespace hf::controller

#endif  // HF_OPERATOR_CACHES_H_
