// The names of the hashfoundry.com API: group and version, resources, the
// labels and finalizer the operator and agents put on objects, and the
// DevicePool condition types. Shared by operator, agent and tests so a name
// is spelled once.
//
// Thread-safety: constants and pure functions.
#ifndef HF_API_NAMES_H_
#define HF_API_NAMES_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "kube/rest/resource.h"

namespace hf::api {

inline constexpr std::string_view kGroup = "hashfoundry.com";
inline constexpr std::string_view kVersion = "v1alpha1";
inline constexpr std::string_view kApiVersion = "hashfoundry.com/v1alpha1";

inline constexpr std::string_view kDevicePoolKind = "DevicePool";
inline constexpr std::string_view kDevicePoolsResource = "devicepools";
inline constexpr std::string_view kDevicePoolNodeKind = "DevicePoolNode";
inline constexpr std::string_view kDevicePoolNodesResource = "devicepoolnodes";

// Both kinds are cluster-scoped.
inline kube::GroupVersionResource DevicePools() {
  return {std::string(kGroup), std::string(kVersion), std::string(kDevicePoolsResource), false};
}
inline kube::GroupVersionResource DevicePoolNodes() {
  return {std::string(kGroup), std::string(kVersion), std::string(kDevicePoolNodesResource), false};
}

// A pool's name becomes the name part of a label key, so it is bounded like
// one (the CRD enforces this with CEL).
inline constexpr size_t kMaxPoolNameLength = 63;

// A DRA pool's driver name, <pool>.devicepool.hashfoundry.com: the agent
// publishes its node's ResourceSlices under it and the operator names the
// pool's DeviceClass after it. A driver name is at most 63 characters, so a
// DRA pool's name is at most 36 (the CRD enforces this with CEL).
inline constexpr std::string_view kDraDriverSuffix = ".devicepool.hashfoundry.com";
inline constexpr size_t kMaxDraPoolNameLength = 63 - kDraDriverSuffix.size();
static_assert(kMaxDraPoolNameLength == 36);
inline std::string DraDriverName(std::string_view pool) { return std::string(pool) + std::string(kDraDriverSuffix); }
// The pool a driver name is DraDriverName of; "" for another driver's name.
inline std::string PoolOfDraDriver(std::string_view driver) {
  if (driver.size() <= kDraDriverSuffix.size() || !driver.ends_with(kDraDriverSuffix)) return "";
  return std::string(driver.substr(0, driver.size() - kDraDriverSuffix.size()));
}
// The taints a DRA agent puts in its slice (NoSchedule: the scheduler gives
// such a device to no new claim, holders keep it). Unhealthy: the operator
// counts the device as not healthy. Device-plugin-allocated: a container
// still holds it through the device plugin API (the node was switched to DRA
// under running pods), not allocatable through DRA until the kubelet's
// PodResources no longer lists it; the operator counts it as allocated.
inline constexpr char kUnhealthyTaintKey[] = "hashfoundry.com/unhealthy";
inline constexpr char kDevicePluginAllocatedTaintKey[] = "hashfoundry.com/device-plugin-allocated";

// Nodes a pool selects carry NodeSelectionLabel(pool)=enabled while they
// match; the pool's DaemonSet selects on it. The label is removed when the
// node stops matching and, through the finalizer, when the pool is deleted.
inline constexpr std::string_view kNodeSelectionLabelPrefix = "devicepool.hashfoundry.com/";
inline constexpr std::string_view kNodeSelectionLabelValue = "enabled";
inline std::string NodeSelectionLabel(std::string_view pool) {
  return std::string(kNodeSelectionLabelPrefix) + std::string(pool);
}
inline constexpr std::string_view kNodeLabelsFinalizer = "hashfoundry.com/node-labels";

// Labels on every DevicePoolNode (and the agent's pods), for list selectors.
inline constexpr std::string_view kPoolLabel = "hashfoundry.com/pool";
// The agent's name: its binary, its user agent, and the
// app.kubernetes.io/name of its pods and Services.
inline constexpr std::string_view kAgentName = "devicepool-agent";
inline constexpr std::string_view kNodeNameLabel = "hashfoundry.com/node";

// DevicePool condition types.
inline constexpr std::string_view kConditionReady = "Ready";
inline constexpr std::string_view kConditionProgressing = "Progressing";
inline constexpr std::string_view kConditionDegraded = "Degraded";
// Whether the ServiceMonitor and PrometheusRule CRDs are served.
inline constexpr std::string_view kConditionMonitoringAvailable = "MonitoringAvailable";
// Whether the pool's DeviceClass (DRA) is in place; only on pools that use
// or used DRA.
inline constexpr std::string_view kConditionDeviceClassAvailable = "DeviceClassAvailable";
// Another pool with the same resourceName holds some of the selected nodes.
inline constexpr std::string_view kConditionConflict = "Conflict";
// The spec passed admission but cannot be acted on (e.g. the agent rejects it).
inline constexpr std::string_view kConditionInvalid = "Invalid";

}  // namespace hf::api

#endif  // HF_API_NAMES_H_
