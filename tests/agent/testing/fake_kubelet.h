// FakeKubelet: the kubelet's side of registration, enough to test the agent
// against: a v1beta1.Registration service on <dir>/kubelet.sock that, like
// the real kubelet, dials the plugin's endpoint and calls
// GetDevicePluginOptions before it answers (so a plugin that does not serve
// yet fails to register), and records each accepted request. Tests wait on
// its condition variable, never on time.
#ifndef HF_TESTS_AGENT_TESTING_FAKE_KUBELET_H_
#define HF_TESTS_AGENT_TESTING_FAKE_KUBELET_H_

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/server.h>

#include "deviceplugin/v1beta1/api.grpc.pb.h"

namespace hf::agent::testing {

class FakeKubelet {
 public:
  explicit FakeKubelet(std::string dir);
  ~FakeKubelet();

  // Serves on <dir>/kubelet.sock (a new socket file each time).
  void Start();
  // Stops serving and removes kubelet.sock.
  void Stop();

  std::string socket_path() const { return dir_ + "/kubelet.sock"; }

  // Blocks until `n` registrations were accepted or `timeout` passes (a
  // bound on failure, not a way to wait); returns whether they were.
  bool WaitForRegistrations(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::vector<v1beta1::RegisterRequest> requests() const;
  std::vector<v1beta1::DevicePluginOptions> options_seen() const;

 private:
  class Service;

  const std::string dir_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1beta1::RegisterRequest> requests_;
  std::vector<v1beta1::DevicePluginOptions> options_;
};

}  // namespace hf::agent::testing

#endif  // HF_TESTS_AGENT_TESTING_FAKE_KUBELET_H_
