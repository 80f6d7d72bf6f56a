// DevicePoolNode (hashfoundry.com/v1alpha1, cluster-scoped): one node's
// report for one DevicePool, written by that node's agent; the typed form of
// crds/devicepoolnodes.hashfoundry.com.yaml and its one JSON codec.
//
// The object is named <pool>.<node> and labelled hashfoundry.com/pool and
// hashfoundry.com/node; EncodeDevicePoolNode derives all three from the
// spec, so an agent cannot get them out of step.
//
// Thread-safety: plain values and pure functions.
#ifndef HF_API_DEVICE_POOL_NODE_H_
#define HF_API_DEVICE_POOL_NODE_H_

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/condition.h"
#include "api/device_pool.h"
#include "kube/meta/object_meta.h"
#include "kube/status.h"

namespace hf::api {

enum class DeviceHealth { kHealthy, kUnhealthy };

// "Healthy", "Unhealthy": the kubelet API's spellings too.
std::string_view DeviceHealthName(DeviceHealth health);

// A physical device (replicas of a shared device are not listed).
struct Device {
  std::string id;
  DeviceHealth health = DeviceHealth::kHealthy;
  std::optional<int> numa_node;  // absent: unknown, or a single-node machine
  std::string path;              // on the host; empty when not a file
  bool operator==(const Device&) const = default;
};

struct DevicePoolNodeSpec {
  std::string pool;
  std::string node;
  bool operator==(const DevicePoolNodeSpec&) const = default;
};

struct DevicePoolNodeStatus {
  std::vector<Device> devices;
  DeviceCounts counts;  // advertised, after sharing
  bool registered = false;  // the kubelet registration is live
  std::string agent_version;
  // The agent's --revision: which DaemonSet pod template started it (the
  // operator passes the template's hashfoundry.com/template-hash), so a
  // rollout can tell a report of the new revision from one of the old.
  std::string agent_revision;
  std::vector<Condition> conditions;
  bool operator==(const DevicePoolNodeStatus&) const = default;
};

struct DevicePoolNode {
  kube::ObjectMeta metadata;
  DevicePoolNodeSpec spec;
  DevicePoolNodeStatus status;
};

// "<pool>.<node>".
std::string DevicePoolNodeName(std::string_view pool, std::string_view node);

// status.agentRevision: at most kMaxAgentRevision characters of [A-Za-z0-9._-],
// empty allowed (the CRD's maxLength and pattern; the agent's --revision).
inline constexpr size_t kMaxAgentRevision = 63;
bool IsAgentRevision(std::string_view revision);

// Invalid Status, listing every problem with its path, for anything the CRD
// would reject and for wrong JSON types; never throws.
kube::StatusOr<DevicePoolNode> DecodeDevicePoolNode(const nlohmann::json& obj);

// The whole object for server-side apply (to the object and then to its
// status subresource): apiVersion, kind, metadata (name from the spec,
// metadata.labels plus the pool and node labels, ownerReferences when
// given), spec and status. Devices are written sorted by id so the same
// devices always give the same object.
nlohmann::json EncodeDevicePoolNode(const DevicePoolNode& node);

}  // namespace hf::api

#endif  // HF_API_DEVICE_POOL_NODE_H_
