#include "tests/agent/testing/fake_kubelet.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

namespace hf::agent::testing {

class FakeKubelet::Service final : public v1beta1::Registration::Service {
 public:
  explicit Service(FakeKubelet* kubelet) : kubelet_(kubelet) {}

  grpc::Status Register(grpc::ServerContext*, const v1beta1::RegisterRequest* request, v1beta1::Empty*) override {
    bool refuse = false;
    {
      std::lock_guard<std::mutex> l(kubelet_->mu_);
      ++kubelet_->attempts_;
      if (kubelet_->refuse_ > 0) {
        --kubelet_->refuse_;
        refuse = true;
      }
    }
    kubelet_->cv_.notify_all();
    if (refuse) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "refused by the test");
    if (request->version() != "v1beta1") return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad version");
    auto channel = grpc::CreateChannel("unix:" + kubelet_->dir_ + "/" + request->endpoint(),
                                       grpc::InsecureChannelCredentials());
    auto stub = v1beta1::DevicePlugin::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    ctx.set_wait_for_ready(true);
    v1beta1::DevicePluginOptions options;
    grpc::Status st = stub->GetDevicePluginOptions(&ctx, v1beta1::Empty(), &options);
    if (!st.ok()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "cannot dial plugin: " + st.error_message());
    {
      std::lock_guard<std::mutex> l(kubelet_->mu_);
      kubelet_->requests_.push_back(*request);
      kubelet_->options_.push_back(options);
    }
    kubelet_->cv_.notify_all();
    return grpc::Status::OK;
  }

 private:
  FakeKubelet* kubelet_;
};

FakeKubelet::FakeKubelet(std::string dir) : dir_(std::move(dir)) {}

FakeKubelet::~FakeKubelet() { Stop(); }

void FakeKubelet::Start() {
  unlink(socket_path().c_str());
  // gRPC binds, then listens: a kubelet.sock made by its bind would refuse
  // connections for a moment. The listening name stays until Stop, as
  // removing it would change the socket's ctime, part of how the registrar
  // tells one kubelet.sock from the next. A name used once per Start means
  // gRPC's removal of its socket file when a server goes never takes a
  // later one.
  listening_ = dir_ + "/.fake-kubelet-" + std::to_string(++starts_) + ".sock";
  service_ = std::make_unique<Service>(this);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + listening_, grpc::InsecureServerCredentials());
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  ASSERT_NE(server_, nullptr) << "cannot serve on " << listening_;
  ASSERT_EQ(link(listening_.c_str(), socket_path().c_str()), 0) << "link to kubelet.sock: " << std::strerror(errno);
}

void FakeKubelet::Stop() {
  if (!server_) return;
  // kubelet.sock goes first, so nothing sees it change while the server
  // stops.
  unlink(socket_path().c_str());
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server_.reset();
  service_.reset();
  unlink(listening_.c_str());
}

bool FakeKubelet::WaitForRegistrations(size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(mu_);
  return cv_.wait_for(l, timeout, [&] { return requests_.size() >= n; });
}

std::vector<v1beta1::RegisterRequest> FakeKubelet::requests() const {
  std::lock_guard<std::mutex> l(mu_);
  return requests_;
}

void FakeKubelet::RefuseRegistrations(int n) {
  std::lock_guard<std::mutex> l(mu_);
  refuse_ = n;
}

size_t FakeKubelet::attempts() const {
  std::lock_guard<std::mutex> l(mu_);
  return attempts_;
}

bool FakeKubelet::WaitForAttempts(size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(mu_);
  return cv_.wait_for(l, timeout, [&] { return attempts_ >= n; });
}

std::vector<v1beta1::DevicePluginOptions> FakeKubelet::options_seen() const {
  std::lock_guard<std::mutex> l(mu_);
  return options_;
}

}  // namespace hf::agent::testing
