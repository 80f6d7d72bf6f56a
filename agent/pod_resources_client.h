// PodResourcesClient: how many of a resource's device ids containers hold,
// from the kubelet's PodResources API (podresources/v1 List) on its unix
// socket. Ids are counted once even if several containers of a pod list
// them (init containers hand theirs on).
//
// Thread-safety: safe for concurrent use.
#ifndef HF_AGENT_POD_RESOURCES_CLIENT_H_
#define HF_AGENT_POD_RESOURCES_CLIENT_H_

#include <chrono>
#include <set>
#include <string>

#include "kube/status.h"

namespace hf::agent {

class PodResourcesClient {
 public:
  explicit PodResourcesClient(std::string socket_path) : socket_path_(std::move(socket_path)) {}

  // NotFound when the socket does not exist (no kubelet there, or the API
  // is off); ServiceUnavailable when the call fails.
  kube::StatusOr<int> CountAllocated(const std::string& resource_name,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
  // The ids themselves.
  kube::StatusOr<std::set<std::string>> AllocatedIds(const std::string& resource_name,
                                                     std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

 private:
  const std::string socket_path_;
};

}  // namespace hf::agent

#endif  // HF_AGENT_POD_RESOURCES_CLIENT_H_
