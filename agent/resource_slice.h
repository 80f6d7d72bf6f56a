// The ResourceSlices (resource.k8s.io/v1) that publish a node's devices to
// the scheduler when the pool uses Dynamic Resource Allocation: built from
// the same DeviceSet the device plugin serves, one DRA device per advertised
// id (so `replicas` shares a device the same way in both APIs).
//
// Each device carries the attributes a DeviceClass or a claim can select on:
//   id        the physical device's id (string)
//   replica   which share of it (int; only when replicas > 1)
//   numaNode  its NUMA node (int; only when known)
//   path      its first device node on the host (string; only when it has one)
//
// An unhealthy device stays in the slice with the taint
// hashfoundry.com/unhealthy:NoSchedule instead of disappearing: the
// scheduler then never allocates it to a new claim (DRADeviceTaints, beta and
// on in 1.36), claims already allocated keep it (NoSchedule evicts nothing),
// `kubectl get resourceslice -o yaml` shows why it is not used, and the
// device comes back by losing the taint, not by reappearing. Removing it
// instead would look, to a reader of the slice, like the device never
// existed.
//
// The slices form one resource pool named after the node, with
// resourceSliceCount slices of at most kMaxDevicesPerSlice devices; the
// first is named <pool>.<node> (as the DevicePoolNode), the others
// <pool>.<node>.<i>.
//
// Thread-safety: pure functions.
#ifndef HF_AGENT_RESOURCE_SLICE_H_
#define HF_AGENT_RESOURCE_SLICE_H_

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agent/device_set.h"
#include "api/names.h"
#include "kube/rest/resource.h"

namespace hf::agent {

using api::kDevicePluginAllocatedTaintKey;  // what the taints mean: api/names.h
using api::kUnhealthyTaintKey;
// The API allows 128 devices per slice, but only 64 once a device uses
// taints, which ours may at any time.
inline constexpr size_t kMaxDevicesPerSlice = 64;

kube::GroupVersionResource ResourceSlices();
kube::GroupVersionResource ResourceClaims();

struct SliceIdentity {
  std::string pool;    // the DevicePool
  std::string node;    // spec.nodeName, and the resource pool's name
  std::string driver;  // spec.driver
};

// The DRA device name of an advertised id: a DNS label. An id that is one
// already stays as it is; any other (upper case, ':' and '.' of PCI
// addresses, "::" of replicas, too long) is lower-cased, every other
// character becomes '-', and it ends in '-' and 8 hex digits of a hash of
// the id, so two ids never map to one name.
std::string DraDeviceName(std::string_view advertised_id);

// How many slices `devices` needs (at least 1: an empty pool is published
// as one empty slice, so the scheduler knows the node has none).
size_t SliceCount(const DeviceSet& devices);

std::string ResourceSliceName(const SliceIdentity& id, size_t index);

// The slices' desired content: apiVersion, kind, metadata (name, labels
// hashfoundry.com/pool and hashfoundry.com/node) and spec, with the given
// pool generation. `held` are advertised ids containers hold through the
// device plugin API; they get the device-plugin-allocated taint.
std::vector<nlohmann::json> BuildResourceSlices(const DeviceSet& devices, const SliceIdentity& id,
                                                int64_t generation, const std::set<std::string>& held = {});

// Whether a slice on the server says what `desired` says: the same driver,
// node, pool, device names, attributes and taints (by key, value and
// effect; the server adds a taint's timeAdded) and labels; the generation is
// not compared.
bool SameSlice(const nlohmann::json& desired, const nlohmann::json& server);

// The advertised id behind a DRA device name, or nullptr.
const DeviceSet::Advertised* FindByDraName(const DeviceSet& devices, std::string_view name);

}  // namespace hf::agent

#endif  // HF_AGENT_RESOURCE_SLICE_H_
