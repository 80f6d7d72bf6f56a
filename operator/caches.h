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
#include <set>
#include <string>
#include <utility>
#include <vector>

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
  // Its agent serves DRA (its arguments say so): what the pod runs, which
  // during a switch of the pool's allocation API is not what the spec says.
  bool dra = false;
};
std::optional<AgentPodEntry> DecodeAgentPodEntry(const nlohmann::json& obj);

// A ResourceSlice (resource.k8s.io/v1): whose, where, and how many devices.
// Kept for every driver (a few strings each); the operator reads those of
// its pools' drivers.
struct ResourceSliceEntry {
  kube::ObjectMeta metadata;
  std::string driver;
  std::string node;  // spec.nodeName; "" for a slice not bound to one node
  std::string pool;  // spec.pool.name
  int64_t generation = 0;  // spec.pool.generation
  int devices = 0;
  // The devices tainted api::kUnhealthyTaintKey, and those tainted
  // api::kDevicePluginAllocatedTaintKey (containers hold them through the
  // device plugin API). Names only, and only these.
  std::vector<std::string> unhealthy;
  std::vector<std::string> device_plugin_held;
};
std::optional<ResourceSliceEntry> DecodeResourceSliceEntry(nlohmann::json&& obj);

// The devices the ResourceSlices of `driver` publish for `node`: of each of
// the driver's pools there, the slices of its newest generation (older ones
// are on their way out). nullopt when there is no such slice.
std::optional<int64_t> PublishedDevices(const kube::SharedInformer<ResourceSliceEntry>& slices,
                                        const std::string& driver, const std::string& node);
// What those slices say of the node's devices: how many, and by name those
// tainted unhealthy and those held through the device plugin API; nullopt
// when there is no such slice.
struct SliceDevices {
  int64_t total = 0;
  std::set<std::string> unhealthy;
  std::set<std::string> device_plugin_held;
};
std::optional<SliceDevices> PublishedOn(const kube::SharedInformer<ResourceSliceEntry>& slices,
                                        const std::string& driver, const std::string& node);

// A ResourceClaim (resource.k8s.io/v1): of its metadata only uid, namespace
// and name, and of its allocation (status.allocation.devices.results) each
// device's driver, pool and name; nothing else, so a cluster with many
// claims costs a few strings each. For our drivers the pool is the node's
// name (an agent publishes its node's slices under it), so a result says
// which node's device the claim holds. A claim not allocated has none.
struct ResourceClaimEntry {
  struct Device {
    std::string driver;
    std::string pool;
    std::string device;
    bool operator==(const Device&) const = default;
  };
  kube::ObjectMeta metadata;
  std::vector<Device> devices;
};
std::optional<ResourceClaimEntry> DecodeResourceClaimEntry(nlohmann::json&& obj);

// The claims holding devices of `driver` on `node` ("namespace/name",
// sorted) and those devices, each once.
struct ClaimedDevices {
  std::vector<std::string> claims;
  std::set<std::string> devices;
};
ClaimedDevices ClaimedOn(const kube::SharedInformer<ResourceClaimEntry>& claims, const std::string& driver,
                         const std::string& node);

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
inline constexpr char kByDriverNodeIndex[] = "driver-node";  // resourceslices, resourceclaims: <driver>/<node>
inline constexpr char kByDriverIndex[] = "driver";  // resourceclaims: each driver they hold devices of

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
  // Run while resource.k8s.io/v1 is served: the pools' DeviceClasses, and
  // every ResourceSlice once a pool uses DRA.
  kube::OnDemandInformer<ChildEntry>* device_classes = nullptr;
  kube::OnDemandInformer<ResourceSliceEntry>* resource_slices = nullptr;
  // Every ResourceClaim, once a pool uses DRA: a node whose agent serves DRA
  // is not switched away from it while claims hold its devices, and a
  // deleted DRA pool keeps its agents until no claim holds its devices.
  kube::OnDemandInformer<ResourceClaimEntry>* resource_claims = nullptr;
};

// The informers behind Caches, as the operator runs them: pools, Nodes and
// reports cluster-wide; children and agent pods by the managed-by label, in
// `ns` (the operator's namespace) where they are namespaced; CRDs metadata
// only. The monitoring and resource.k8s.io informers start on demand.
// Indexes are added.
struct OperatorInformers {
  OperatorInformers(kube::Reader& reader, const std::string& ns, kube::Clock& clock = kube::DefaultClock());
  OperatorInformers(const OperatorInformers&) = delete;
  OperatorInformers& operator=(const OperatorInformers&) = delete;

  Caches caches();
  // Each always-running informer with its Run, for a Manager or a test.
  std::vector<std::pair<const kube::Syncable*, std::function<void(std::stop_token)>>> Runnables();

  kube::SharedInformer<PoolEntry> pools;
  kube::SharedInformer<NodeEntry> nodes;  // whole Nodes on the wire, for Ready and allocatable
  kube::SharedInformer<api::DevicePoolNode> reports;
  kube::SharedInformer<ChildEntry> daemon_sets;
  kube::SharedInformer<ChildEntry> accounts;
  kube::SharedInformer<ChildEntry> services;
  kube::SharedInformer<ChildEntry> bindings;
  kube::SharedInformer<AgentPodEntry> agent_pods;
  // CRDs, metadata only (NodeEntry holds their name): to notice
  // monitoring.coreos.com arrive or leave.
  kube::SharedInformer<NodeEntry> crds;
  kube::OnDemandInformer<ChildEntry> service_monitors;
  kube::OnDemandInformer<ChildEntry> prometheus_rules;
  kube::OnDemandInformer<ChildEntry> device_classes;
  kube::OnDemandInformer<ResourceSliceEntry> resource_slices;
  kube::OnDemandInformer<ResourceClaimEntry> resource_claims;
};

}  // namespace hf::controller

#endif  // HF_OPERATOR_CACHES_H_
