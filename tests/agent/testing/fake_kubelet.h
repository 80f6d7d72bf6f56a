// FakeKubelet: the kubelet's side of registration, enough to test the agent
// against: a v1beta1.Registration service on <dir>/kubelet.sock that, like
// the real kubelet, dials the plugin's endpoint and calls
// GetDevicePluginOptions before it answers (so a plugin that does not serve
// yet fails to register), and records each accepted request. It can refuse
// registrations, as a kubelet that is not ready does. Tests wait on its
// condition variable, never on time.
//
// Unlike the real kubelet's, its kubelet.sock appears only once it accepts
// connections, so a registrar that dials at once on the file's creation
// never meets a refused connection (which would make it wait for a backoff
// that a test's FakeClock never reaches).
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

  // Serves on <dir>/kubelet.sock (a new socket file each time): listens
  // on a name of its own first (.fake-kubelet-<n>.sock), then links the
  // socket in as kubelet.sock (IN_CREATE, as the kubelet's own bind
  // makes).
  void Start();
  // Removes kubelet.sock and stops serving.
  void Stop();

  std::string socket_path() const { return dir_ + "/kubelet.sock"; }

  // Blocks until `n` registrations were accepted or `timeout` passes (a
  // bound on failure, not a way to wait); returns whether they were.
  bool WaitForRegistrations(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::vector<v1beta1::RegisterRequest> requests() const;

  // The next `n` Register calls fail with UNAVAILABLE.
  void RefuseRegistrations(int n);
  // Register calls received, refused ones included; waits as
  // WaitForRegistrations does.
  size_t attempts() const;
  bool WaitForAttempts(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::vector<v1beta1::DevicePluginOptions> options_seen() const;

 private:
  class Service;

  const std::string dir_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  int starts_ = 0;         // names each Start's own socket
  std::string listening_;  // that socket
  std::vector<v1beta1::RegisterRequest> requests_;
  std::vector<v1beta1::DevicePluginOptions> options_;
  size_t attempts_ = 0;  // guarded by mu_
  int refuse_ = 0;       // guarded by mu_
};

}  // namespace hf::agent::testing

#endif  // HF_TESTS_AGENT_TESTING_FAKE_KUBELET_H_
