#include "agent/registrar.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <spdlog/spdlog.h>

#include "agent/alarm.h"
#include "deviceplugin/v1beta1/api.grpc.pb.h"
#include "kube/thread_name.h"

namespace hf::agent {
namespace {

constexpr char kKubeletSocketName[] = "kubelet.sock";
constexpr char kApiVersion[] = "v1beta1";

}  // namespace

Registrar::Registrar(RegistrarOptions options, PluginServer& server, AgentMetrics& metrics, kube::Clock& clock)
    : options_(std::move(options)),
      kubelet_socket_(options_.kubelet_dir + "/" + kKubeletSocketName),
      server_(server),
      metrics_(metrics),
      clock_(clock) {}

Registrar::~Registrar() { Stop(); }

void Registrar::AddListener(std::function<void(bool)> fn) { listeners_.push_back(std::move(fn)); }

kube::Status Registrar::Start() {
  kube::StatusOr<std::unique_ptr<Inotify>> inotify = Inotify::Create();
  if (!inotify.ok()) return inotify.status();
  {
    kube::MutexLock l(call_mu_);
    inotify_ = std::move(*inotify);
  }
  thread_ = std::thread([this] {
    kube::SetThreadName("registrar");
    Run();
  });
  return kube::Status::Ok();
}

void Registrar::Stop() {
  if (!thread_.joinable()) return;
  {
    kube::MutexLock l(call_mu_);
    stopping_ = true;
    if (in_flight_ != nullptr) in_flight_->TryCancel();
  }
  inotify_->Interrupt();
  thread_.join();
  SetRegistered(false);
}

void Registrar::RegistrationLost() {
  lost_ = true;
  kube::MutexLock l(call_mu_);
  if (inotify_) inotify_->Interrupt();
}

void Registrar::SetRegistered(bool registered) {
  if (registered_.exchange(registered) == registered) return;
  metrics_.SetRegistered(registered);
  for (const auto& fn : listeners_) fn(registered);
}

std::optional<Registrar::SocketId> Registrar::KubeletSocketId() const {
  struct stat st {};
  if (stat(kubelet_socket_.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return std::nullopt;
  return SocketId{st.st_dev, st.st_ino, static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec};
}

kube::Status Registrar::ServeAgain() {
  if (server_.running()) spdlog::info("socket {} was removed; serving on a new one", server_.socket_path());
  server_.Stop();
  return server_.Start();
}

kube::Status Registrar::Register() {
  auto channel = grpc::CreateChannel("unix:" + kubelet_socket_, grpc::InsecureChannelCredentials());
  auto stub = v1beta1::Registration::NewStub(channel);
  grpc::ClientContext ctx;
  // gRPC's deadline, on the system clock: a network timeout, real time
  // whatever the registrar's clock.
  ctx.set_deadline(std::chrono::system_clock::now() + options_.register_timeout);
  {
    kube::MutexLock l(call_mu_);
    if (stopping_) return kube::Status(kube::Reason::kServiceUnavailable, "stopping");
    in_flight_ = &ctx;
  }
  v1beta1::RegisterRequest request;
  request.set_version(kApiVersion);
  request.set_endpoint(std::filesystem::path(server_.socket_path()).filename().string());
  request.set_resource_name(options_.resource_name);
  *request.mutable_options() = options_.plugin_options;
  v1beta1::Empty response;
  grpc::Status st = stub->Register(&ctx, request, &response);
  {
    kube::MutexLock l(call_mu_);
    in_flight_ = nullptr;
  }
  if (!st.ok()) {
    return kube::Status(kube::Reason::kServiceUnavailable,
                        "Register with " + kubelet_socket_ + ": " + st.error_message().substr(0, 512));
  }
  return kube::Status::Ok();
}

void Registrar::Run() {
  // Backoff and resync are on the clock; poll(2) is not, so the alarm
  // interrupts the wait when one is due.
  Alarm alarm(clock_, [this] { inotify_->Interrupt(); }, "registrar-alarm");
  std::optional<SocketId> registered_with;  // kubelet.sock of the last successful Register
  std::chrono::milliseconds backoff = options_.initial_backoff;
  kube::Clock::TimePoint next_attempt = clock_.Now();
  const std::string socket_name = std::filesystem::path(server_.socket_path()).filename().string();
  while (!stopping_) {
    if (!inotify_->Watch(options_.kubelet_dir).ok()) {
      std::error_code ec;
      std::filesystem::create_directories(options_.kubelet_dir, ec);
      (void)inotify_->Watch(options_.kubelet_dir);
    }
    // A new socket means the kubelet's connection to the old one is gone.
    if (!server_.SocketIsOurs() && clock_.Now() >= next_attempt) {
      SetRegistered(false);
      if (kube::Status st = ServeAgain(); !st.ok()) {
        spdlog::error("cannot serve the device plugin API: {}; retrying in {} ms", st.message(), backoff.count());
        next_attempt = clock_.Now() + backoff;
        backoff = std::min(backoff * 2, options_.max_backoff);
      }
    }
    if (lost_.exchange(false) && registered_) {
      spdlog::info("kubelet closed the ListAndWatch stream; registering again");
      SetRegistered(false);
    }
    std::optional<SocketId> kubelet = KubeletSocketId();
    if (!kubelet && registered_) {
      spdlog::info("{} is gone; waiting for the kubelet", kubelet_socket_);
      SetRegistered(false);
    } else if (kubelet && registered_ && registered_with != kubelet) {
      spdlog::info("{} was re-created; registering with the new kubelet", kubelet_socket_);
      SetRegistered(false);
      backoff = options_.initial_backoff;
      next_attempt = clock_.Now();
    }
    if (kubelet && !registered_ && server_.SocketIsOurs() && clock_.Now() >= next_attempt) {
      kube::Status st = Register();
      if (stopping_) break;
      metrics_.ObserveRegistration(st.ok());
      if (st.ok()) {
        if (registered_with && registered_with != kubelet) metrics_.ObserveKubeletRestart();
        registered_with = kubelet;
        backoff = options_.initial_backoff;
        spdlog::info("registered {} with the kubelet", options_.resource_name);
        SetRegistered(true);
      } else {
        spdlog::warn("{}; retrying in {} ms", st.message(), backoff.count());
        next_attempt = clock_.Now() + backoff;
        backoff = std::min(backoff * 2, options_.max_backoff);
      }
    }
    kube::Clock::TimePoint now = clock_.Now();
    kube::Clock::TimePoint wake = now + options_.resync;
    if ((kubelet && !registered_) || !server_.SocketIsOurs()) wake = std::clamp(next_attempt, now, wake);
    alarm.Set(wake);
    for (const Inotify::Event& e : inotify_->Wait()) {
      // A kubelet coming up, or its start-up cleanup removing our socket:
      // act now, whatever the backoff says.
      bool kubelet_up = e.name == kKubeletSocketName && (e.mask & (IN_CREATE | IN_MOVED_TO));
      bool ours_removed = e.name == socket_name && (e.mask & (IN_DELETE | IN_MOVED_FROM));
      if (kubelet_up || ours_removed) {
        backoff = options_.initial_backoff;
        next_attempt = clock_.Now();
      }
    }
  }
}

}  // namespace hf::agent
