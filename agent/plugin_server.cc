#include "agent/plugin_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

namespace hf::agent {

PluginServer::PluginServer(std::string socket_path, DeviceStore& store, AgentMetrics& metrics,
                           ServiceOptions options, kube::Clock& clock)
    : socket_path_(std::move(socket_path)),
      store_(store),
      metrics_(metrics),
      options_(std::move(options)),
      clock_(clock) {}

PluginServer::~PluginServer() { Stop(); }

std::optional<PluginServer::Identity> PluginServer::CurrentIdentity() const {
  struct stat st {};
  if (lstat(socket_path_.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return std::nullopt;
  return Identity{st.st_dev, st.st_ino};
}

kube::Status PluginServer::Start() {
  kube::MutexLock l(mu_);
  if (server_) return kube::Status(kube::Reason::kInvalid, "device plugin server already runs");
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(socket_path_).parent_path(), ec);
  if (unlink(socket_path_.c_str()) != 0 && errno != ENOENT) {
    return kube::Status(kube::Reason::kInternalError,
                        "cannot remove stale socket " + socket_path_ + ": " + std::strerror(errno));
  }
  auto service = std::make_unique<DevicePluginService>(store_, metrics_, options_, clock_);
  service->SetHooks(hooks_);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + socket_path_, grpc::InsecureServerCredentials());
  builder.RegisterService(service.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) return kube::Status(kube::Reason::kInternalError, "cannot serve on " + socket_path_);
  std::optional<Identity> id = CurrentIdentity();
  if (!id) {
    service->Shutdown();
    server->Shutdown();
    return kube::Status(kube::Reason::kInternalError, "socket " + socket_path_ + " vanished right after it was made");
  }
  identity_ = *id;
  service_ = std::move(service);
  server_ = std::move(server);
  spdlog::info("serving the device plugin API on {}", socket_path_);
  return kube::Status::Ok();
}

void PluginServer::Stop() {
  kube::MutexLock l(mu_);
  StopLocked();
}

void PluginServer::StopLocked() {
  if (!server_) return;
  service_->Shutdown();
  // Streams end at once after Shutdown; the deadline bounds a stuck call.
  // gRPC takes it on the system clock: it is real time, not the agent's.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
  // gRPC may already have removed it; never remove a socket someone else
  // (a restarted agent) made since.
  if (CurrentIdentity() == identity_) unlink(socket_path_.c_str());
  server_.reset();
  service_.reset();
  spdlog::info("stopped serving on {}", socket_path_);
}

bool PluginServer::running() const {
  kube::MutexLock l(mu_);
  return server_ != nullptr;
}

bool PluginServer::SocketIsOurs() const {
  kube::MutexLock l(mu_);
  return server_ != nullptr && CurrentIdentity() == identity_;
}

}  // namespace hf::agent
