#include "agent/device_plugin_service.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include "agent/allocate_response.h"
#include "agent/preferred_allocation.h"

namespace hf::agent {
namespace {

// How often a waiting ListAndWatch checks whether its client went away: the
// synchronous API has no cancellation callback. A change is sent at once
// (the wait ends on it), and a failed write ends the stream at once; only a
// kubelet that leaves while nothing changes is noticed this late, and a
// restarted kubelet announces itself sooner through its new kubelet.sock.
// (gRPC's callback API would report it at once, but in gRPC 1.51 its pollers
// sleep 100 ms after each idle second, and a call arriving while they all
// sleep waits: Allocate calls made a second after a registration took
// ~100 ms.)
constexpr std::chrono::seconds kCancelCheck{5};

}  // namespace

v1beta1::DevicePluginOptions PluginOptions(const ServiceOptions& options) {
  v1beta1::DevicePluginOptions o;
  o.set_pre_start_required(false);
  o.set_get_preferred_allocation_available(options.allocation_policy != api::AllocationPolicy::kNone);
  return o;
}

v1beta1::ListAndWatchResponse DeviceListResponse(const DeviceSet& set) {
  v1beta1::ListAndWatchResponse response;
  for (const DeviceSet::Advertised& a : set.advertised()) {
    const Device& d = set.devices()[a.device];
    v1beta1::Device* out = response.add_devices();
    out->set_id(a.id);
    out->set_health(d.healthy ? "Healthy" : "Unhealthy");
    if (d.numa_node) out->mutable_topology()->add_nodes()->set_id(*d.numa_node);
  }
  return response;
}

DevicePluginService::DevicePluginService(DeviceStore& store, AgentMetrics& metrics, ServiceOptions options,
                                         kube::Clock& clock)
    : store_(store), metrics_(metrics), options_(std::move(options)), clock_(clock) {}

void DevicePluginService::Shutdown() { stop_.request_stop(); }


grpc::Status DevicePluginService::GetDevicePluginOptions(grpc::ServerContext*, const v1beta1::Empty*,
                                                         v1beta1::DevicePluginOptions* response) {
  *response = PluginOptions(options_);
  return grpc::Status::OK;
}

grpc::Status DevicePluginService::ListAndWatch(grpc::ServerContext* context, const v1beta1::Empty*,
                                               grpc::ServerWriter<v1beta1::ListAndWatchResponse>* writer) {
  std::stop_token stop = stop_.get_token();
  auto lost = [this] {
    spdlog::info("ListAndWatch stream closed by the kubelet");
    if (hooks_.stream_lost) hooks_.stream_lost();
    return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  };
  std::shared_ptr<const DeviceState> state = store_.Get();
  spdlog::info("ListAndWatch opened; sending {} devices", state->set.Total());
  if (!writer->Write(DeviceListResponse(state->set))) return lost();
  uint64_t seen = state->version;
  for (;;) {
    state = store_.WaitForChange(seen, stop, clock_, clock_.Now() + kCancelCheck);
    if (stop.stop_requested()) return grpc::Status::OK;
    if (context->IsCancelled()) return lost();
    if (state->version == seen) continue;
    seen = state->version;
    if (!writer->Write(DeviceListResponse(state->set))) return lost();
  }
}

grpc::Status DevicePluginService::GetPreferredAllocation(grpc::ServerContext*,
                                                         const v1beta1::PreferredAllocationRequest* request,
                                                         v1beta1::PreferredAllocationResponse* response) {
  std::shared_ptr<const DeviceState> state = store_.Get();
  for (const v1beta1::ContainerPreferredAllocationRequest& req : request->container_requests()) {
    std::vector<std::string> chosen;
    grpc::Status st = PreferredAllocation(
        options_.allocation_policy, state->set, {req.available_deviceids().begin(), req.available_deviceids().end()},
        {req.must_include_deviceids().begin(), req.must_include_deviceids().end()}, req.allocation_size(), &chosen);
    if (!st.ok()) {
      spdlog::warn("GetPreferredAllocation refused: {}", st.error_message());
      response->Clear();
      return st;
    }
    auto* out = response->add_container_responses();
    for (std::string& id : chosen) out->add_deviceids(std::move(id));
  }
  return grpc::Status::OK;
}

grpc::Status DevicePluginService::Allocate(grpc::ServerContext*, const v1beta1::AllocateRequest* request,
                                           v1beta1::AllocateResponse* response) {
  kube::Clock::TimePoint start = clock_.Now();
  std::shared_ptr<const DeviceState> state = store_.Get();
  grpc::Status st =
      BuildAllocateResponse(state->set, *request, {options_.resource_name, options_.cdi}, response);
  metrics_.ObserveAllocate(st.ok(), clock_.Now() - start);
  if (!st.ok()) {
    spdlog::warn("Allocate refused: {}", st.error_message());
    return st;
  }
  for (const auto& c : response->container_responses()) {
    spdlog::info("allocated {}", c.envs().at("HASHFOUNDRY_DEVICE_IDS").substr(0, 512));
  }
  if (hooks_.allocated) hooks_.allocated();
  return grpc::Status::OK;
}

grpc::Status DevicePluginService::PreStartContainer(grpc::ServerContext*, const v1beta1::PreStartContainerRequest*,
                                                    v1beta1::PreStartContainerResponse*) {
  return grpc::Status::OK;
}

}  // namespace hf::agent
