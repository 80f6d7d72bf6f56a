#include "tests/agent/testing/fake_kubelet.h"

#include <unistd.h>

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
  service_ = std::make_unique<Service>(this);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + socket_path(), grpc::InsecureServerCredentials());
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
}

void FakeKubelet::Stop() {
  if (!server_) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server_.reset();
  service_.reset();
  unlink(socket_path().c_str());
}

bool FakeKubelet::WaitForRegistrations(size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(mu_);
  return cv_.wait_for(l, timeout, [&] { return requests_.size() >= n; });
}

std::vector<v1beta1::RegisterRequest> FakeKubelet::requests() const {
  std::lock_guard<std::mutex> l(mu_);
  return requests_;
}

std::vector<v1beta1::DevicePluginOptions> FakeKubelet::options_seen() const {
  std::lock_guard<std::mutex> l(mu_);
  return options_;
}

}  // namespace hf::agent::testing
