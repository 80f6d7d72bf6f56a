// DevicePluginService: the kubelet-facing v1beta1.DevicePlugin gRPC service
// over the DeviceStore. ListAndWatch sends the full device list at once and
// again on every change; Allocate and GetPreferredAllocation answer from the
// current devices (allocate_response.h, preferred_allocation.h); bad input
// gets an error status, never a crash.
//
// ListAndWatch uses gRPC's callback API: a stream waits on nothing, one
// watcher thread blocked on the DeviceStore offers each change to every open
// stream, and a client going away is reported as it happens (OnCancel), so an
// idle agent does not wake up.
//
// Thread-safety: gRPC calls the methods concurrently; all are safe. Set the
// hooks before the service is served.
#ifndef HF_AGENT_DEVICE_PLUGIN_SERVICE_H_
#define HF_AGENT_DEVICE_PLUGIN_SERVICE_H_

#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "agent/agent_metrics.h"
#include "agent/device_store.h"
#include "api/device_pool.h"
#include "deviceplugin/v1beta1/api.grpc.pb.h"

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

class DevicePluginService final
    : public v1beta1::DevicePlugin::WithCallbackMethod_ListAndWatch<v1beta1::DevicePlugin::Service> {
 public:
  DevicePluginService(DeviceStore& store, AgentMetrics& metrics, ServiceOptions options);
  ~DevicePluginService() override;
  DevicePluginService(const DevicePluginService&) = delete;
  DevicePluginService& operator=(const DevicePluginService&) = delete;

  // Ends every ListAndWatch stream (with OK) and makes new ones end at once;
  // the server can then shut down without waiting for them.
  void Shutdown();

  void SetHooks(ServiceHooks hooks) { hooks_ = std::move(hooks); }

  grpc::Status GetDevicePluginOptions(grpc::ServerContext* context, const v1beta1::Empty* request,
                                      v1beta1::DevicePluginOptions* response) override;
  grpc::ServerWriteReactor<v1beta1::ListAndWatchResponse>* ListAndWatch(grpc::CallbackServerContext* context,
                                                                       const v1beta1::Empty* request) override;
  grpc::Status GetPreferredAllocation(grpc::ServerContext* context, const v1beta1::PreferredAllocationRequest* request,
                                      v1beta1::PreferredAllocationResponse* response) override;
  grpc::Status Allocate(grpc::ServerContext* context, const v1beta1::AllocateRequest* request,
                        v1beta1::AllocateResponse* response) override;
  grpc::Status PreStartContainer(grpc::ServerContext* context, const v1beta1::PreStartContainerRequest* request,
                                 v1beta1::PreStartContainerResponse* response) override;

 private:
  class Stream;
  // The watcher thread: offers every new DeviceState to the open streams.
  void Watch(std::stop_token stop);
  // A stream is done (gRPC's OnDone); it is deleted right after.
  void Forget(Stream* stream);

  DeviceStore& store_;
  AgentMetrics& metrics_;
  const ServiceOptions options_;
  ServiceHooks hooks_;
  std::mutex mu_;
  std::set<Stream*> streams_;  // guarded by mu_; locked before a stream's own mutex
  bool stopped_ = false;       // guarded by mu_
  std::jthread watcher_;       // last: stopped and joined before the rest goes
};

// The options the agent registers with and GetDevicePluginOptions returns:
// GetPreferredAllocation unless the policy is none; no PreStartContainer.
v1beta1::DevicePluginOptions PluginOptions(const ServiceOptions& options);

// The ListAndWatch message for a device set: every advertised id, its
// health and, when known, its NUMA node.
v1beta1::ListAndWatchResponse DeviceListResponse(const DeviceSet& devices);

}  // namespace hf::agent

#endif  // HF_AGENT_DEVICE_PLUGIN_SERVICE_H_
