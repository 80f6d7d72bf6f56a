// The compact objects the operator caches, and the informers that hold them.
// Nodes are metadata only (labels, no annotations): a 5000-node cluster costs
// a few hundred bytes a node, never whole Node objects.
//
// Thread-safety: values; the informers are thread-safe.
#ifndef HF_OPERATOR_CACHES_H_
#define HF_OPERATOR_CACHES_H_

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "api/device_pool.h"
#include "api/device_pool_node.h"
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

struct NodeEntry {
  kube::ObjectMeta metadata;
};
std::optional<NodeEntry> DecodeNodeEntry(const nlohmann::json& obj);

// A child (DaemonSet, ServiceAccount, ...) as the server holds it, without
// managedFields, to compare with what we would apply.
struct ChildEntry {
  kube::ObjectMeta metadata;
  nlohmann::json object;
};
std::optional<ChildEntry> DecodeChildEntry(const nlohmann::json& obj);

std::optional<api::DevicePoolNode> DecodePoolNodeEntry(const nlohmann::json& obj);

// Index names.
inline constexpr char kByPoolLabelIndex[] = "pool-labels";  // nodes: each devicepool.hashfoundry.com/<pool> key
inline constexpr char kByPoolIndex[] = "pool";              // devicepoolnodes: spec.pool
inline constexpr char kByOwnerIndex[] = "owner";            // children: controller owner's name

struct Caches {
  kube::SharedInformer<PoolEntry>& pools;
  kube::SharedInformer<NodeEntry>& nodes;
  kube::SharedInformer<api::DevicePoolNode>& pool_nodes;
  kube::SharedInformer<ChildEntry>& daemon_sets;
  kube::SharedInformer<ChildEntry>& service_accounts;
  kube::SharedInformer<ChildEntry>& services;
  kube::SharedInformer<ChildEntry>& bindings;
};

// Adds the indexes above to informers built by the caller.
void AddIndexes(Caches& caches);

}  // namespace hf::controller

#endif  // HF_OPERATOR_CACHES_H_
