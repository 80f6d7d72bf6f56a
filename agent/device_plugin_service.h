// DevicePluginService: the kubelet-facing v1beta1.DevicePlugin gRPC service
// over the DeviceStore. ListAndWatch sends the full device list at once and
// again on every change; Allocate and GetPreferredAllocation answer from the
// current devices (allocate_response.h, preferred_allocation.h); bad input
// gets an error status, never a crash.
//
// Time (a stream's check for a client gone, Allocate's latency) is on the
// kube::Clock given.
//
// Thread-safety: gRPC calls the methods concurrently; all are safe. Set the
// hooks before the service is served.
#ifndef HF_AGENT_DEVICE_PLUGIN_SERVICE_H_
#define HF_AGENT_DEVICE_PLUGIN_SERVICE_H_

#include <atomic>
#include <functional>
#include <stop_token>
#include <string>

#include "agent/agent_metrics.h"
#include "agent/device_store.h"
#include "api/device_pool.h"
#include "deviceplugin/v1beta1/api.grpc.pb.h"
#include "kube/clock.h"

namespace hf::agent {

struct ServiceOptions {
  std::string resource_name;
  api::AllocationPolicy allocation_policy = api::AllocationPolicy::kPacked;
  bool cdi = false;
};

// What the rest of the agent hears from the service; each may be empty.
struct ServiceHooks {
  // A ListAndWatch stream ended from the client's side. The kubelet does
  // not re-open a stream; it waits for a new registration.
  std::function<void()> stream_lost;
  // An Allocate was answered: containers will soon hold devices.
  std::function<void()> allocated;
};

class DevicePluginService final : public v1beta1::DevicePlugin::Service {
 public:
  DevicePluginService(DeviceStore& store, AgentMetrics& metrics, ServiceOptions options, kube::Clock& clock);

  // Ends every ListAndWatch stream (with OK) and makes new ones end at once;
  // the server can then shut down without waiting for them.
  void Shutdown();

  void SetHooks(ServiceHooks hooks) { hooks_ = std::move(hooks); }

  grpc::Status GetDevicePluginOptions(grpc::ServerContext* context, const v1beta1::Empty* request,
                                      v1beta1::DevicePluginOptions* response) override;
  grpc::Status ListAndWatch(grpc::ServerContext* context, const v1beta1::Empty* request,
                            grpc::ServerWriter<v1beta1::ListAndWatchResponse>* writer) override;
  grpc::Status GetPreferredAllocation(grpc::ServerContext* context, const v1beta1::PreferredAllocationRequest* request,
                                      v1beta1::PreferredAllocationResponse* response) override;
  grpc::Status Allocate(grpc::ServerContext* context, const v1beta1::AllocateRequest* request,
                        v1beta1::AllocateResponse* response) override;
  grpc::Status PreStartContainer(grpc::ServerContext* context, const v1beta1::PreStartContainerRequest* request,
                                 v1beta1::PreStartContainerResponse* response) override;

 private:
  DeviceStore& store_;
  AgentMetrics& metrics_;
  const ServiceOptions options_;
  kube::Clock& clock_;
  std::stop_source stop_;
  ServiceHooks hooks_;
};

// The options the agent registers with and GetDevicePluginOptions returns:
// GetPreferredAllocation unless the policy is none; no PreStartContainer.
v1beta1::DevicePluginOptions PluginOptions(const ServiceOptions& options);

// The ListAndWatch message for a device set: every advertised id, its
// health and, when known, its NUMA node.
v1beta1::ListAndWatchResponse DeviceListResponse(const DeviceSet& devices);

}  // namespace hf::agent

#endif  // HF_AGENT_DEVICE_PLUGIN_SERVICE_H_
