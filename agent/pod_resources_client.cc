#include "agent/pod_resources_client.h"

#include <sys/stat.h>

#include <set>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "podresources/v1/api.grpc.pb.h"

namespace hf::agent {

kube::StatusOr<int> PodResourcesClient::CountAllocated(const std::string& resource_name,
                                                       std::chrono::milliseconds timeout) const {
  kube::StatusOr<std::set<std::string>> ids = AllocatedIds(resource_name, timeout);
  if (!ids.ok()) return ids.status();
  return static_cast<int>(ids->size());
}

kube::StatusOr<std::set<std::string>> PodResourcesClient::AllocatedIds(const std::string& resource_name,
                                                                       std::chrono::milliseconds timeout) const {
  struct stat st {};
  if (socket_path_.empty() || stat(socket_path_.c_str(), &st) != 0) {
    return kube::Status(kube::Reason::kNotFound, "no PodResources socket at " + socket_path_);
  }
  // A List of a busy node runs to megabytes; the default 4 MiB limit is
  // too tight for thousands of pods.
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel("unix:" + socket_path_, grpc::InsecureChannelCredentials(), args);
  auto stub = v1::PodResourcesLister::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);  // a network timeout: real time
  v1::ListPodResourcesResponse response;
  grpc::Status status = stub->List(&ctx, v1::ListPodResourcesRequest(), &response);
  if (!status.ok()) {
    return kube::Status(kube::Reason::kServiceUnavailable,
                        "PodResources List on " + socket_path_ + ": " + status.error_message().substr(0, 512));
  }
  std::set<std::string> ids;
  for (const v1::PodResources& pod : response.pod_resources()) {
    for (const v1::ContainerResources& container : pod.containers()) {
      for (const v1::ContainerDevices& devices : container.devices()) {
        if (devices.resource_name() != resource_name) continue;
        ids.insert(devices.device_ids().begin(), devices.device_ids().end());
      }
    }
  }
  return ids;
}

}  // namespace hf::agent
