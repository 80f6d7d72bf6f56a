// BuildAllocateResponse: the agent's answer to the kubelet's Allocate, built
// from the current devices only (no I/O), so every answer can be tested.
//
// Per container, whether CDI is on or not, the env is the whole contract a
// workload reads (the CDI spec adds none, so nothing can disagree with it):
//   HASHFOUNDRY_DEVICE_IDS     all ids, comma separated, in the kubelet's order
//   HASHFOUNDRY_DEVICE_COUNT   how many
//   HASHFOUNDRY_DEVICE_<i>_PATH  the i-th id's device path in the container
//   HASHFOUNDRY_DEVICE_ID      the first id of HASHFOUNDRY_DEVICE_IDS
//   HASHFOUNDRY_DEVICE_PATH    that first device's path in the container
// The last two are the seed plugin's variables, which named one device per
// container; with several devices they name the first, so a one-device
// workload written for the seed runs unchanged and a several-device one has
// the list. A path is set only for a device that has a node (a PCI device
// without VFIO has none; its address is the id).
// Also the annotation hashfoundry.com/device-ids; then either CDI device
// names (<resource name>=<id>, when CDI is on; the runtime applies the spec
// the agent wrote; a device without nodes has nothing to apply and no CDI
// device) or the devices' nodes: device nodes as DeviceSpecs with "rw",
// regular files as read-write bind Mounts. Replicas of one device share its
// nodes, which are listed once.
//
// Thread-safety: a pure function.
#ifndef HF_AGENT_ALLOCATE_RESPONSE_H_
#define HF_AGENT_ALLOCATE_RESPONSE_H_

#include <grpcpp/support/status.h>

#include <string>

#include "agent/device_set.h"
#include "deviceplugin/v1beta1/api.pb.h"

namespace hf::agent {

inline constexpr char kDeviceIdsAnnotation[] = "hashfoundry.com/device-ids";

struct AllocateOptions {
  std::string resource_name;
  bool cdi = false;
};

// INVALID_ARGUMENT for no container requests, a request without ids, more
// ids than the node advertises, duplicate ids or unknown ids;
// FAILED_PRECONDITION for unhealthy ids. Messages name the ids (a bounded
// number of them). `response` is complete only on OK.
grpc::Status BuildAllocateResponse(const DeviceSet& devices, const v1beta1::AllocateRequest& request,
                                   const AllocateOptions& options, v1beta1::AllocateResponse* response);

}  // namespace hf::agent

#endif  // HF_AGENT_ALLOCATE_RESPONSE_H_
