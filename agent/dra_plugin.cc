#include "agent/dra_plugin.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include "agent/cdi_spec.h"
#include "agent/resource_slice.h"

namespace hf::agent {
namespace {

namespace dra = k8s::io::kubelet::pkg::apis::dra::v1;

// How often a health stream checks whether the kubelet went away.
constexpr auto kCancelCheck = std::chrono::seconds(1);
// The kubelet turns a device it has not heard of for 30 s Unknown, so the
// whole list goes out again this often even when nothing changed.
constexpr auto kHealthResend = std::chrono::seconds(10);

kube::Status RemoveFile(const std::string& path) {
  if (unlink(path.c_str()) == 0 || errno == ENOENT) return kube::Status::Ok();
  return kube::Status(kube::Reason::kInternalError, "removing " + path + ": " + std::strerror(errno));
}

std::string ClaimName(const dra::Claim& c) { return c.namespace_() + "/" + c.name(); }

}  // namespace

DraPlugin::DraPlugin(DraOptions options, DeviceStore& store, GetClaim get_claim, kube::Clock& clock)
    : options_(std::move(options)), store_(store), get_claim_(std::move(get_claim)), clock_(clock) {}

kube::Status DraPlugin::Load() {
  const std::string path = options_.CheckpointPath();
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return kube::Status::Ok();
    return kube::Status(kube::Reason::kInternalError, "reading " + path + ": " + std::strerror(errno));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(buf.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return kube::Status(kube::Reason::kInvalid, path + " is not JSON");
  kube::StatusOr<std::map<std::string, PreparedClaim>> claims = DecodeCheckpoint(j);
  if (!claims.ok()) return kube::Status(kube::Reason::kInvalid, path + ": " + claims.status().message());
  kube::MutexLock l(mu_);
  prepared_ = std::move(*claims);
  spdlog::info("DRA checkpoint {}: {} prepared claims", path, prepared_.size());
  NotifyLocked();
  return kube::Status::Ok();
}

int DraPlugin::PreparedDevices() const {
  kube::MutexLock l(mu_);
  int n = 0;
  for (const auto& [uid, c] : prepared_) n += static_cast<int>(c.devices.size());
  return n;
}

std::map<std::string, PreparedClaim> DraPlugin::Prepared() const {
  kube::MutexLock l(mu_);
  return prepared_;
}

void DraPlugin::AddListener(std::function<void(int)> fn) {
  kube::MutexLock l(mu_);
  listeners_.push_back(std::move(fn));
}

void DraPlugin::NotifyLocked() {
  int n = 0;
  for (const auto& [uid, c] : prepared_) n += static_cast<int>(c.devices.size());
  for (const auto& fn : listeners_) fn(n);
}

kube::Status DraPlugin::SaveLocked() {
  return WriteFileAtomically(options_.CheckpointPath(), EncodeCheckpoint(prepared_).dump() + "\n");
}

kube::StatusOr<std::vector<PreparedDevice>> DraPlugin::Prepare(const dra::Claim& claim) {
  if (auto it = prepared_.find(claim.uid()); it != prepared_.end()) return it->second.devices;
  if (claim.uid().empty() || claim.name().empty()) {
    return kube::Status(kube::Reason::kInvalid, "claim without uid or name");
  }
  kube::StatusOr<nlohmann::json> obj = get_claim_(claim.namespace_(), claim.name());
  if (!obj.ok()) {
    return kube::Status(obj.status().reason(), "reading ResourceClaim " + ClaimName(claim) + ": " + obj.status().message());
  }
  std::string uid = obj->value("/metadata/uid"_json_pointer, "");
  if (uid != claim.uid()) {
    return kube::Status(kube::Reason::kConflict, "ResourceClaim " + ClaimName(claim) + " has uid " + uid +
                                                     ", not " + claim.uid() + " (deleted and created again)");
  }
  kube::StatusOr<std::vector<AllocatedDevice>> allocated = AllocatedDevices(*obj, options_.driver);
  if (!allocated.ok()) return allocated.status();

  std::shared_ptr<const DeviceState> state = store_.Get();
  std::vector<PreparedDevice> devices;
  for (const AllocatedDevice& a : *allocated) {
    if (a.pool != options_.node) {
      return kube::Status(kube::Reason::kInvalid, "ResourceClaim " + ClaimName(claim) + ": device " + a.device +
                                                      " is from pool " + a.pool + ", not this node's (" +
                                                      options_.node + ")");
    }
    const DeviceSet::Advertised* adv = FindByDraName(state->set, a.device);
    if (adv == nullptr) {
      return kube::Status(kube::Reason::kNotFound,
                          "ResourceClaim " + ClaimName(claim) + ": device " + a.device + " is not on this node");
    }
    if (!state->set.devices()[adv->device].healthy) {
      return kube::Status(kube::Reason::kServiceUnavailable,
                          "ResourceClaim " + ClaimName(claim) + ": device " + a.device + " is unhealthy");
    }
    devices.push_back({a, adv->id, {}});
  }
  nlohmann::json spec = BuildClaimCdiSpec(state->set, options_.driver, claim.uid(), devices);
  const std::string cdi_path = ClaimCdiPath(options_.cdi_dir, options_.driver, claim.uid());
  if (kube::Status st = WriteFileAtomically(cdi_path, spec.dump(2) + "\n"); !st.ok()) return st;
  prepared_[claim.uid()] = {claim.uid(), claim.namespace_(), claim.name(), devices};
  if (kube::Status st = SaveLocked(); !st.ok()) {
    prepared_.erase(claim.uid());
    (void)RemoveFile(cdi_path);
    return kube::Status(st.reason(), "checkpoint: " + st.message());
  }
  spdlog::info("prepared ResourceClaim {} ({}): {} devices, CDI spec {}", ClaimName(claim), claim.uid(),
               devices.size(), cdi_path);
  return devices;
}

kube::Status DraPlugin::Unprepare(const std::string& uid) {
  const std::string cdi_path = ClaimCdiPath(options_.cdi_dir, options_.driver, uid);
  auto it = prepared_.find(uid);
  if (it == prepared_.end()) return RemoveFile(cdi_path);
  PreparedClaim gone = std::move(it->second);
  prepared_.erase(it);
  if (kube::Status st = SaveLocked(); !st.ok()) {
    prepared_[uid] = std::move(gone);
    return kube::Status(st.reason(), "checkpoint: " + st.message());
  }
  // After the checkpoint: a crash in between leaves a file that a later
  // Unprepare of the same uid, or nothing, removes; never a claim the
  // checkpoint holds without its spec.
  if (kube::Status st = RemoveFile(cdi_path); !st.ok()) spdlog::warn("{}", st.message());
  spdlog::info("unprepared ResourceClaim {}/{} ({})", gone.ns, gone.name, uid);
  return kube::Status::Ok();
}

grpc::Status DraPlugin::NodePrepareResources(grpc::ServerContext*, const dra::NodePrepareResourcesRequest* request,
                                             dra::NodePrepareResourcesResponse* response) {
  kube::MutexLock l(mu_);
  for (const dra::Claim& claim : request->claims()) {
    dra::NodePrepareResourceResponse& out = (*response->mutable_claims())[claim.uid()];
    kube::StatusOr<std::vector<PreparedDevice>> devices = Prepare(claim);
    if (!devices.ok()) {
      spdlog::warn("NodePrepareResources {} ({}): {}", ClaimName(claim), claim.uid(), devices.status().message());
      out.set_error(devices.status().message());
      continue;
    }
    for (const PreparedDevice& d : *devices) {
      dra::Device* dev = out.add_devices();
      for (const std::string& r : d.allocated.requests) dev->add_request_names(r);
      dev->set_pool_name(d.allocated.pool);
      dev->set_device_name(d.allocated.device);
      for (const std::string& id : d.cdi_ids) dev->add_cdi_device_ids(id);
    }
  }
  NotifyLocked();
  return grpc::Status::OK;
}

grpc::Status DraPlugin::NodeUnprepareResources(grpc::ServerContext*, const dra::NodeUnprepareResourcesRequest* request,
                                               dra::NodeUnprepareResourcesResponse* response) {
  kube::MutexLock l(mu_);
  for (const dra::Claim& claim : request->claims()) {
    dra::NodeUnprepareResourceResponse& out = (*response->mutable_claims())[claim.uid()];
    if (kube::Status st = Unprepare(claim.uid()); !st.ok()) {
      spdlog::warn("NodeUnprepareResources {} ({}): {}", ClaimName(claim), claim.uid(), st.message());
      out.set_error(st.message());
    }
  }
  NotifyLocked();
  return grpc::Status::OK;
}

grpc::Status DraPlugin::NodeWatchResources(grpc::ServerContext* context, const v1alpha1::NodeWatchResourcesRequest*,
                                           grpc::ServerWriter<v1alpha1::NodeWatchResourcesResponse>* writer) {
  std::stop_token stop = stop_.get_token();
  auto message = [this](const DeviceState& state) {
    v1alpha1::NodeWatchResourcesResponse out;
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(clock_.WallNow().time_since_epoch()).count();
    for (const DeviceSet::Advertised& adv : state.set.advertised()) {
      const Device& d = state.set.devices()[adv.device];
      v1alpha1::DeviceHealth* h = out.add_devices();
      h->mutable_device()->set_pool_name(options_.node);
      h->mutable_device()->set_device_name(DraDeviceName(adv.id));
      h->set_health(d.healthy ? v1alpha1::HEALTHY : v1alpha1::UNHEALTHY);
      h->set_last_updated_time(now);
      if (!d.healthy) h->set_message("device " + d.id + " failed its health check");
    }
    return out;
  };
  std::shared_ptr<const DeviceState> state = store_.Get();
  if (!writer->Write(message(*state))) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  uint64_t seen = state->version;
  kube::Clock::TimePoint resend = clock_.Now() + kHealthResend;
  for (;;) {
    state = store_.WaitForChange(seen, stop, clock_, std::min(clock_.Now() + kCancelCheck, resend));
    if (stop.stop_requested()) return grpc::Status::OK;
    if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    if (state->version == seen && clock_.Now() < resend) continue;
    seen = state->version;
    resend = clock_.Now() + kHealthResend;
    if (!writer->Write(message(*state))) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  }
}

class DraServer::Registration final : public pluginregistration::Registration::Service {
 public:
  Registration(const DraOptions& options, DraServer& server) : options_(options), server_(server) {}

  grpc::Status GetInfo(grpc::ServerContext*, const pluginregistration::InfoRequest*,
                       pluginregistration::PluginInfo* info) override {
    info->set_type("DRAPlugin");
    info->set_name(options_.driver);
    info->set_endpoint(options_.SocketPath());
    info->add_supported_versions(kDraPluginVersion);
    return grpc::Status::OK;
  }

  grpc::Status NotifyRegistrationStatus(grpc::ServerContext*, const pluginregistration::RegistrationStatus* status,
                                        pluginregistration::RegistrationStatusResponse*) override {
    server_.SetRegistered(status->plugin_registered(), status->error());
    return grpc::Status::OK;
  }

 private:
  const DraOptions& options_;
  DraServer& server_;
};

DraServer::DraServer(DraOptions options, DraPlugin& plugin) : options_(std::move(options)), plugin_(plugin) {}

DraServer::~DraServer() { Stop(); }

void DraServer::AddListener(std::function<void(bool)> fn) { listeners_.push_back(std::move(fn)); }

void DraServer::SetRegistered(bool registered, const std::string& error) {
  if (registered) {
    spdlog::info("the kubelet registered DRA driver {}", options_.driver);
  } else {
    spdlog::error("the kubelet refused DRA driver {}: {}", options_.driver, error);
  }
  // Also when it was registered already: a restarted kubelet registers the
  // driver again after deleting the node's ResourceSlices, which the
  // listeners then publish again.
  registered_ = registered;
  for (const auto& fn : listeners_) fn(registered);
}

kube::Status DraServer::Start() {
  kube::MutexLock l(mu_);
  if (plugin_server_) return kube::Status(kube::Reason::kInvalid, "DRA server already runs");
  auto serve = [](const std::string& path, grpc::Service* a, grpc::Service* b,
                  std::unique_ptr<grpc::Server>* out) -> kube::Status {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    if (kube::Status st = RemoveFile(path); !st.ok()) return st;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + path, grpc::InsecureServerCredentials());
    builder.RegisterService(a);
    if (b != nullptr) builder.RegisterService(b);
    *out = builder.BuildAndStart();
    if (!*out) return kube::Status(kube::Reason::kInternalError, "cannot serve on " + path);
    return kube::Status::Ok();
  };
  grpc::Service* dra_service = static_cast<k8s::io::kubelet::pkg::apis::dra::v1::DRAPlugin::Service*>(&plugin_);
  grpc::Service* health_service = static_cast<v1alpha1::DRAResourceHealth::Service*>(&plugin_);
  if (kube::Status st = serve(options_.SocketPath(), dra_service, health_service, &plugin_server_); !st.ok()) {
    return st;
  }
  registration_ = std::make_unique<Registration>(options_, *this);
  if (kube::Status st = serve(options_.RegistrationSocketPath(), registration_.get(), nullptr, &registration_server_);
      !st.ok()) {
    plugin_server_->Shutdown();
    plugin_server_.reset();
    return st;
  }
  spdlog::info("serving DRA driver {} on {}; registration on {}", options_.driver, options_.SocketPath(),
               options_.RegistrationSocketPath());
  return kube::Status::Ok();
}

void DraServer::Stop() {
  kube::MutexLock l(mu_);
  if (!plugin_server_) return;
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(2);
  registration_server_->Shutdown(deadline);
  (void)RemoveFile(options_.RegistrationSocketPath());
  plugin_.Shutdown();
  plugin_server_->Shutdown(deadline);
  (void)RemoveFile(options_.SocketPath());
  registration_server_.reset();
  plugin_server_.reset();
  registration_.reset();
  registered_ = false;
  spdlog::info("stopped serving DRA driver {}", options_.driver);
}

}  // namespace hf::agent
