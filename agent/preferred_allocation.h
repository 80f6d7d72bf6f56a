// PreferredAllocation: the agent's answer to the kubelet's
// GetPreferredAllocation for one container: which `size` ids out of
// `available` to hand out, always including `must_include`.
//
//   packed    fill one NUMA node first: the node already holding must-include
//             devices, else the smallest node that fits the whole request,
//             else the largest; replicas are packed onto devices already in
//             use; then lowest ids.
//   balanced  spread across NUMA nodes (and, with replicas, across physical
//             devices): each pick goes to the node, then the device, holding
//             fewest picks so far; ties go to the lowest id.
//   none      lowest ids (the kubelet does not ask; answered anyway).
//
// Healthy devices are preferred; unknown or unhealthy ids (the kubelet's view
// may lag a health change by a moment) are used only to make up the count.
// The answer is sorted by NaturalLess and depends only on the inputs.
//
// Thread-safety: a pure function.
#ifndef HF_AGENT_PREFERRED_ALLOCATION_H_
#define HF_AGENT_PREFERRED_ALLOCATION_H_

#include <grpcpp/support/status.h>

#include <string>
#include <vector>

#include "agent/device_set.h"
#include "api/device_pool.h"

namespace hf::agent {

// INVALID_ARGUMENT, with the reason, when the request cannot be met: size
// not positive, more must-include ids than size, must-include ids that are
// not available, or fewer available ids than size.
grpc::Status PreferredAllocation(api::AllocationPolicy policy, const DeviceSet& devices,
                                 const std::vector<std::string>& available,
                                 const std::vector<std::string>& must_include, int size,
                                 std::vector<std::string>* out);

}  // namespace hf::agent

#endif  // HF_AGENT_PREFERRED_ALLOCATION_H_
