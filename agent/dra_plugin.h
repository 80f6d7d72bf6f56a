// The agent as a Dynamic Resource Allocation kubelet plugin.
//
// DraPlugin serves dra/v1 DRAPlugin and dra-health/v1alpha1
// DRAResourceHealth:
// - NodePrepareResources reads each claim from the API server (the kubelet
//   passes only namespace, name and uid), takes the devices the scheduler
//   allocated to this driver from status.allocation, checks they are this
//   node's, known and healthy, writes the claim's CDI spec (dra_claim.h),
//   records the claim in the checkpoint, and answers with the devices and
//   their CDI ids. A claim already prepared is answered from the checkpoint
//   without reading or writing anything, so the kubelet's retries and
//   restarts neither duplicate nor lose a claim.
// - NodeUnprepareResources removes the claim's CDI spec and its checkpoint
//   entry. A claim it does not know succeeds too (the kubelet may unprepare
//   what it never got an answer for), and its CDI file, if a crash left one,
//   goes as well.
// - NodeWatchResources streams every device's health, at the start, after
//   every change and every 10 s (the kubelet turns a device it has not
//   heard of for 30 s Unknown), until the kubelet or Shutdown ends it.
// A failure for one claim is that claim's error string in the answer; the
// kubelet retries it. Prepare and unprepare are serialised.
//
// The checkpoint is <plugins dir>/<driver>/checkpoint.json on the host,
// written atomically after each change; Load reads it at start.
//
// DraServer serves DraPlugin on <plugins dir>/<driver>/dra.sock and the
// plugin registration service (pluginregistration/v1) on
// <plugins registry dir>/<driver>-reg.sock, which the kubelet's plugin
// watcher finds: GetInfo answers type DRAPlugin, the driver name, the
// dra.sock path and version v1.DRAPlugin; NotifyRegistrationStatus says
// whether the kubelet took it. The kubelet re-registers from the socket after
// its own restart; the agent does nothing for that.
//
// Thread-safety: everything may be called from any thread.
#ifndef HF_AGENT_DRA_PLUGIN_H_
#define HF_AGENT_DRA_PLUGIN_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <vector>

#include <grpcpp/server.h>

#include "agent/device_store.h"
#include "agent/dra_claim.h"
#include "dra/v1/api.grpc.pb.h"
#include "drahealth/v1alpha1/api.grpc.pb.h"
#include "kube/clock.h"
#include "kube/mutex.h"
#include "kube/status.h"
#include "pluginregistration/v1/api.grpc.pb.h"

namespace hf::agent {

inline constexpr char kDraPluginVersion[] = "v1.DRAPlugin";

struct DraOptions {
  std::string driver;
  std::string node;
  std::string cdi_dir = "/var/run/cdi";
  std::string plugins_dir = "/var/lib/kubelet/plugins";
  std::string registry_dir = "/var/lib/kubelet/plugins_registry";

  std::string SocketPath() const { return plugins_dir + "/" + driver + "/dra.sock"; }
  std::string RegistrationSocketPath() const { return registry_dir + "/" + driver + "-reg.sock"; }
  std::string CheckpointPath() const { return plugins_dir + "/" + driver + "/checkpoint.json"; }
};

class DraPlugin final : public k8s::io::kubelet::pkg::apis::dra::v1::DRAPlugin::Service,
                        public v1alpha1::DRAResourceHealth::Service {
 public:
  // Reads a ResourceClaim: (namespace, name) -> the object.
  using GetClaim = std::function<kube::StatusOr<nlohmann::json>(const std::string& ns, const std::string& name)>;

  DraPlugin(DraOptions options, DeviceStore& store, GetClaim get_claim, kube::Clock& clock);

  // Reads the checkpoint; a missing file is an empty one. An unreadable or
  // malformed one is an error: the agent must not start and forget claims.
  kube::Status Load();

  // How many devices prepared claims hold, and a listener called with it
  // after every change (on the calling thread).
  int PreparedDevices() const;
  void AddListener(std::function<void(int prepared)> fn);
  std::map<std::string, PreparedClaim> Prepared() const;

  // Ends the health streams.
  void Shutdown() { stop_.request_stop(); }

  grpc::Status NodePrepareResources(grpc::ServerContext* context,
                                    const k8s::io::kubelet::pkg::apis::dra::v1::NodePrepareResourcesRequest* request,
                                    k8s::io::kubelet::pkg::apis::dra::v1::NodePrepareResourcesResponse* response)
      override;
  grpc::Status NodeUnprepareResources(
      grpc::ServerContext* context, const k8s::io::kubelet::pkg::apis::dra::v1::NodeUnprepareResourcesRequest* request,
      k8s::io::kubelet::pkg::apis::dra::v1::NodeUnprepareResourcesResponse* response) override;
  grpc::Status NodeWatchResources(grpc::ServerContext* context, const v1alpha1::NodeWatchResourcesRequest* request,
                                  grpc::ServerWriter<v1alpha1::NodeWatchResourcesResponse>* writer) override;

 private:
  // The claim's devices, or the error to answer for it.
  kube::StatusOr<std::vector<PreparedDevice>> Prepare(const k8s::io::kubelet::pkg::apis::dra::v1::Claim& claim)
      HF_REQUIRES(mu_);
  kube::Status Unprepare(const std::string& uid) HF_REQUIRES(mu_);
  kube::Status SaveLocked() HF_REQUIRES(mu_);
  void NotifyLocked() HF_REQUIRES(mu_);

  const DraOptions options_;
  DeviceStore& store_;
  const GetClaim get_claim_;
  kube::Clock& clock_;
  std::stop_source stop_;

  mutable kube::Mutex mu_;
  std::map<std::string, PreparedClaim> prepared_ HF_GUARDED_BY(mu_);
  std::vector<std::function<void(int)>> listeners_ HF_GUARDED_BY(mu_);
};

class DraServer {
 public:
  DraServer(DraOptions options, DraPlugin& plugin);
  ~DraServer();  // Stops.

  DraServer(const DraServer&) = delete;
  DraServer& operator=(const DraServer&) = delete;

  // Serves dra.sock first, then the registration socket, so the kubelet
  // never finds a plugin it cannot reach.
  kube::Status Start();
  // Removes the registration socket first (the kubelet's watcher then
  // deregisters the driver), then stops serving.
  void Stop();

  // The kubelet said it registered the plugin, and nothing since says not.
  bool registered() const { return registered_.load(); }
  // Called on the gRPC thread after every NotifyRegistrationStatus (a
  // restarted kubelet registers again). Add before Start.
  void AddListener(std::function<void(bool registered)> fn);

 private:
  class Registration;

  void SetRegistered(bool registered, const std::string& error);

  const DraOptions options_;
  DraPlugin& plugin_;
  std::vector<std::function<void(bool)>> listeners_;
  std::atomic<bool> registered_{false};

  kube::Mutex mu_;
  std::unique_ptr<Registration> registration_ HF_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Server> plugin_server_ HF_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Server> registration_server_ HF_GUARDED_BY(mu_);
};

}  // namespace hf::agent

#endif  // HF_AGENT_DRA_PLUGIN_H_
