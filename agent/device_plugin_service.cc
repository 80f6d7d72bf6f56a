#include "agent/device_plugin_service.h"

#include <chrono>
#include <optional>

#include <spdlog/spdlog.h>

#include "agent/allocate_response.h"
#include "agent/preferred_allocation.h"

namespace hf::agent {
namespace {

// The watcher's wait on the store has a deadline only because it needs one;
// a change or a stop wakes it at once.
constexpr std::chrono::hours kWatchWait{1};

}  // namespace

// One ListAndWatch stream. It writes the newest DeviceState it was offered,
// one write at a time: offers that arrive during a write collapse into the
// newest, which is sent next (every message is the full list, so nothing is
// lost by skipping one in between).
class DevicePluginService::Stream final : public grpc::ServerWriteReactor<v1beta1::ListAndWatchResponse> {
 public:
  explicit Stream(DevicePluginService& service) : service_(service) {}

  void Offer(std::shared_ptr<const DeviceState> state) {
    std::lock_guard<std::mutex> l(mu_);
    if (finishing_ || (latest_ && state->version <= latest_->version)) return;
    latest_ = std::move(state);
    WriteLatestLocked();
  }

  // Ends the stream with status (after the write in flight, if any).
  void End(grpc::Status status) {
    std::lock_guard<std::mutex> l(mu_);
    EndLocked(std::move(status));
  }

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      writing_ = false;
      if (ok) {
        if (pending_end_) {
          Finish(*std::exchange(pending_end_, std::nullopt));
        } else {
          WriteLatestLocked();
        }
        return;
      }
    }
    Lost();  // the client went away mid-write
  }

  void OnCancel() override { Lost(); }

  void OnDone() override {
    service_.Forget(this);
    delete this;
  }

 private:
  void WriteLatestLocked() {
    if (writing_ || finishing_ || !latest_ || latest_->version == sent_) return;
    message_ = DeviceListResponse(latest_->set);
    sent_ = latest_->version;
    writing_ = true;
    StartWrite(&message_);
  }

  // The client went away. The hook runs outside the lock: it may reach
  // back into the server.
  void Lost() {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (finishing_) return;  // ended by the agent (shutdown), or reported already
      EndLocked(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
    }
    spdlog::info("ListAndWatch stream closed by the kubelet");
    if (service_.hooks_.stream_lost) service_.hooks_.stream_lost();
  }

  void EndLocked(grpc::Status status) {
    if (finishing_) return;
    finishing_ = true;
    if (writing_) {
      pending_end_ = std::move(status);
    } else {
      Finish(std::move(status));
    }
  }

  DevicePluginService& service_;
  std::mutex mu_;
  std::shared_ptr<const DeviceState> latest_;  // the newest state offered
  std::optional<uint64_t> sent_;               // its version, once written
  v1beta1::ListAndWatchResponse message_;      // the write in flight
  bool writing_ = false;
  bool finishing_ = false;
  std::optional<grpc::Status> pending_end_;  // Finish once the write in flight is done
};

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

DevicePluginService::DevicePluginService(DeviceStore& store, AgentMetrics& metrics, ServiceOptions options)
    : store_(store),
      metrics_(metrics),
      options_(std::move(options)),
      watcher_([this](std::stop_token stop) { Watch(stop); }) {}

DevicePluginService::~DevicePluginService() { Shutdown(); }

void DevicePluginService::Shutdown() {
  watcher_.request_stop();
  std::lock_guard<std::mutex> l(mu_);
  stopped_ = true;
  for (Stream* s : streams_) s->End(grpc::Status::OK);
}

void DevicePluginService::Watch(std::stop_token stop) {
  uint64_t seen = store_.Get()->version;
  while (!stop.stop_requested()) {
    std::shared_ptr<const DeviceState> state =
        store_.WaitForChange(seen, stop, std::chrono::steady_clock::now() + kWatchWait);
    if (state->version == seen) continue;
    seen = state->version;
    std::lock_guard<std::mutex> l(mu_);
    for (Stream* s : streams_) s->Offer(state);
  }
}

void DevicePluginService::Forget(Stream* stream) {
  std::lock_guard<std::mutex> l(mu_);
  streams_.erase(stream);
}


grpc::Status DevicePluginService::GetDevicePluginOptions(grpc::ServerContext*, const v1beta1::Empty*,
                                                         v1beta1::DevicePluginOptions* response) {
  *response = PluginOptions(options_);
  return grpc::Status::OK;
}

grpc::ServerWriteReactor<v1beta1::ListAndWatchResponse>* DevicePluginService::ListAndWatch(
    grpc::CallbackServerContext*, const v1beta1::Empty*) {
  auto* stream = new Stream(*this);  // deletes itself in OnDone
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopped_) {
      stream->End(grpc::Status::OK);
      return stream;
    }
    streams_.insert(stream);
  }
  std::shared_ptr<const DeviceState> state = store_.Get();
  spdlog::info("ListAndWatch opened; sending {} devices", state->set.Total());
  stream->Offer(std::move(state));
  return stream;
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
  auto start = std::chrono::steady_clock::now();
  std::shared_ptr<const DeviceState> state = store_.Get();
  grpc::Status st =
      BuildAllocateResponse(state->set, *request, {options_.resource_name, options_.cdi}, response);
  metrics_.ObserveAllocate(st.ok(), std::chrono::steady_clock::now() - start);
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
