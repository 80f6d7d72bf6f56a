// Registrar: keeps the agent registered with the kubelet. It registers once
// the plugin server serves and kubelet.sock exists, retrying with
// exponential backoff; it watches the device-plugins directory with inotify
// and registers again at once when the kubelet restarts (kubelet.sock
// created anew) and, when the agent's own socket is deleted (the kubelet's
// start-up cleanup), first serves on a new socket. A ListAndWatch stream
// closed by the kubelet also counts as a lost registration, since the
// kubelet never re-opens one. Without a kubelet it waits for its socket
// rather than polling. Backoff and resync are on the kube::Clock given; the
// Register call's own deadline is gRPC's, on real time.
//
// Thread-safety: Start and Stop from one thread; the rest from any thread.
// Listeners run on the registrar's thread.
#ifndef HF_AGENT_REGISTRAR_H_
#define HF_AGENT_REGISTRAR_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/client_context.h>

#include "agent/agent_metrics.h"
#include "agent/inotify.h"
#include "agent/plugin_server.h"
#include "deviceplugin/v1beta1/api.pb.h"
#include "kube/clock.h"
#include "kube/status.h"
#include "kube/mutex.h"

namespace hf::agent {

struct RegistrarOptions {
  std::string kubelet_dir;
  std::string resource_name;
  v1beta1::DevicePluginOptions plugin_options;
  // Retries of a failing Register start here and double up to the maximum;
  // a new kubelet.sock resets them.
  std::chrono::milliseconds initial_backoff{50};
  std::chrono::milliseconds max_backoff{std::chrono::seconds(10)};
  // How long a Register may take; the kubelet dials back within 10 s.
  std::chrono::milliseconds register_timeout{std::chrono::seconds(15)};
  // Re-checks the directory this often even without events.
  std::chrono::milliseconds resync{std::chrono::seconds(10)};
};

class Registrar {
 public:
  Registrar(RegistrarOptions options, PluginServer& server, AgentMetrics& metrics,
            kube::Clock& clock = kube::DefaultClock());
  ~Registrar();  // Stops.

  Registrar(const Registrar&) = delete;
  Registrar& operator=(const Registrar&) = delete;

  kube::Status Start();
  // Cancels a Register in flight and joins the thread; leaves the server be.
  void Stop();

  // The kubelet accepted the registration and nothing since says it is gone.
  bool registered() const { return registered_.load(); }

  // A ListAndWatch stream ended from the kubelet's side.
  void RegistrationLost();

  // Called with the new value whenever registered() changes. Add before Start.
  void AddListener(std::function<void(bool registered)> fn);

 private:
  // dev and inode of kubelet.sock, to tell a restarted kubelet's socket
  // from the one registered with.
  struct SocketId {
    dev_t dev = 0;
    ino_t ino = 0;
    int64_t ctime_ns = 0;
    bool operator==(const SocketId&) const = default;
  };

  void Run();
  std::optional<SocketId> KubeletSocketId() const;
  kube::Status Register();
  void SetRegistered(bool registered);
  // Restarts the plugin server on a new socket.
  kube::Status ServeAgain();

  const RegistrarOptions options_;
  const std::string kubelet_socket_;
  PluginServer& server_;
  AgentMetrics& metrics_;
  kube::Clock& clock_;
  std::vector<std::function<void(bool)>> listeners_;

  std::atomic<bool> registered_{false};
  std::atomic<bool> lost_{false};
  std::atomic<bool> stopping_{false};
  kube::Mutex call_mu_;
  // Set under call_mu_ by Start, then used unlocked by the thread it starts.
  std::unique_ptr<Inotify> inotify_;
  grpc::ClientContext* in_flight_ HF_GUARDED_BY(call_mu_) = nullptr;
  std::thread thread_;
};

}  // namespace hf::agent

#endif  // HF_AGENT_REGISTRAR_H_
