#include "agent/allocate_response.h"

#include <set>
#include <vector>

#include "agent/id_list.h"

namespace hf::agent {
namespace {

std::string Join(const google::protobuf::RepeatedPtrField<std::string>& ids) {
  std::string s;
  for (const std::string& id : ids) {
    if (!s.empty()) s += ',';
    s += id;
  }
  return s;
}

grpc::Status Check(const DeviceSet& devices, const v1beta1::AllocateRequest& request) {
  if (request.container_requests().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "Allocate has no container requests");
  }
  std::set<std::string_view> seen;
  std::vector<std::string> duplicate;
  std::vector<std::string> unknown;
  std::vector<std::string> unhealthy;
  for (int i = 0; i < request.container_requests_size(); ++i) {
    const auto& ids = request.container_requests(i).devices_ids();
    std::string which = "container request " + std::to_string(i);
    if (ids.empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, which + " asks for no devices");
    if (ids.size() > devices.Total()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          which + " asks for " + std::to_string(ids.size()) + " devices; this node advertises " +
                              std::to_string(devices.Total()));
    }
    for (const std::string& id : ids) {
      if (!seen.insert(id).second) {
        duplicate.push_back(id);
      } else if (const Device* d = devices.Find(id); d == nullptr) {
        unknown.push_back(id);
      } else if (!d->healthy) {
        unhealthy.push_back(id);
      }
    }
  }
  if (!duplicate.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "duplicate device ids: " + IdList(duplicate));
  }
  if (!unknown.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unknown device ids: " + IdList(unknown));
  }
  if (!unhealthy.empty()) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "unhealthy device ids: " + IdList(unhealthy));
  }
  return grpc::Status::OK;
}

}  // namespace

grpc::Status BuildAllocateResponse(const DeviceSet& devices, const v1beta1::AllocateRequest& request,
                                   const AllocateOptions& options, v1beta1::AllocateResponse* response) {
  response->Clear();
  if (grpc::Status st = Check(devices, request); !st.ok()) return st;
  for (const v1beta1::ContainerAllocateRequest& req : request.container_requests()) {
    v1beta1::ContainerAllocateResponse* out = response->add_container_responses();
    auto& envs = *out->mutable_envs();
    std::string ids = Join(req.devices_ids());
    envs["HASHFOUNDRY_DEVICE_IDS"] = ids;
    envs["HASHFOUNDRY_DEVICE_COUNT"] = std::to_string(req.devices_ids_size());
    (*out->mutable_annotations())[kDeviceIdsAnnotation] = ids;
    const Device& first = *devices.Find(req.devices_ids(0));
    envs["HASHFOUNDRY_DEVICE_ID"] = req.devices_ids(0);
    if (!first.nodes.empty()) envs["HASHFOUNDRY_DEVICE_PATH"] = first.nodes.front().container_path;
    std::set<std::string> listed;  // host paths already handed over
    for (int i = 0; i < req.devices_ids_size(); ++i) {
      const std::string& id = req.devices_ids(i);
      const Device& d = *devices.Find(id);
      if (!d.nodes.empty()) envs["HASHFOUNDRY_DEVICE_" + std::to_string(i) + "_PATH"] = d.nodes.front().container_path;
      if (options.cdi) {
        // BuildCdiSpec lists only devices with nodes.
        if (!d.nodes.empty()) out->add_cdi_devices()->set_name(options.resource_name + "=" + id);
        continue;
      }
      for (const DeviceNode& node : d.nodes) {
        if (!listed.insert(node.host_path).second) continue;
        if (node.kind == NodeKind::kFile) {
          v1beta1::Mount* m = out->add_mounts();
          m->set_container_path(node.container_path);
          m->set_host_path(node.host_path);
          m->set_read_only(false);
        } else {
          v1beta1::DeviceSpec* s = out->add_devices();
          s->set_container_path(node.container_path);
          s->set_host_path(node.host_path);
          s->set_permissions("rw");
        }
      }
    }
  }
  return grpc::Status::OK;
}

}  // namespace hf::agent
