// PluginServer: serves the DevicePluginService on the agent's unix socket in
// the kubelet's device-plugins directory. Each Start builds a fresh service
// and server (a kubelet restart deletes the socket, and the agent must then
// serve on a new one); Stop ends the ListAndWatch streams, stops serving
// and removes the socket if it is still the one this server created. The
// services keep time on the kube::Clock given.
//
// Thread-safety: Start, Stop and the queries may be called from any thread;
// they are serialised.
#ifndef HF_AGENT_PLUGIN_SERVER_H_
#define HF_AGENT_PLUGIN_SERVER_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <grpcpp/server.h>

#include "agent/agent_metrics.h"
#include "agent/device_plugin_service.h"
#include "agent/device_store.h"
#include "kube/clock.h"
#include "kube/status.h"
#include "kube/mutex.h"

namespace hf::agent {

class PluginServer {
 public:
  PluginServer(std::string socket_path, DeviceStore& store, AgentMetrics& metrics, ServiceOptions options,
               kube::Clock& clock = kube::DefaultClock());
  ~PluginServer();  // Stops.

  PluginServer(const PluginServer&) = delete;
  PluginServer& operator=(const PluginServer&) = delete;

  // Removes whatever is at the socket path (a stale socket of an earlier
  // run), then serves. The socket accepts connections when this returns OK.
  kube::Status Start();
  void Stop();

  bool running() const;
  // Whether the file at the socket path is the socket this server created;
  // false once it was deleted or replaced (the kubelet restarted).
  bool SocketIsOurs() const;

  const std::string& socket_path() const { return socket_path_; }

  // Passed to each service; set before Start.
  void SetHooks(ServiceHooks hooks) { hooks_ = std::move(hooks); }

 private:
  struct Identity {
    dev_t dev = 0;
    ino_t ino = 0;
    bool operator==(const Identity&) const = default;
  };
  std::optional<Identity> CurrentIdentity() const;
  void StopLocked() HF_REQUIRES(mu_);

  const std::string socket_path_;
  DeviceStore& store_;
  AgentMetrics& metrics_;
  const ServiceOptions options_;
  kube::Clock& clock_;
  ServiceHooks hooks_;

  mutable kube::Mutex mu_;
  std::unique_ptr<DevicePluginService> service_ HF_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Server> server_ HF_GUARDED_BY(mu_);
  Identity identity_ HF_GUARDED_BY(mu_);  // of the socket server_ made
};

}  // namespace hf::agent

#endif  // HF_AGENT_PLUGIN_SERVER_H_
