// PoolWatch: the agent's own DevicePool, watched while the agent runs
// (metadata only, one object by field selector), so that at shutdown it
// knows whether the pool is being deleted even when it can no longer ask:
// the pool's deletion also garbage-collects the agent's ServiceAccount and
// ClusterRoleBinding, often before the agent gets its SIGTERM. The
// deletionTimestamp is set before the operator unlabels the nodes, which is
// what stops the agents, so the watch has as a rule seen it by then. Its
// client and reflector keep time on the kube::Clock given.
//
// Thread-safety: Start and Stop from one thread; Last and the sink methods
// (called by the reflector's thread) from any.
#ifndef HF_AGENT_POOL_WATCH_H_
#define HF_AGENT_POOL_WATCH_H_

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "agent/config.h"
#include "kube/cache/reflector.h"
#include "kube/clock.h"
#include "kube/rest/client.h"
#include "kube/status.h"
#include "kube/mutex.h"

namespace hf::agent {

class PoolWatch final : public kube::ReflectorSink {
 public:
  explicit PoolWatch(std::string pool, kube::Clock& clock = kube::DefaultClock());
  ~PoolWatch() override;

  // Watches through config.kubeconfig on a thread of its own; a client that
  // cannot be made is logged and leaves Last() at its initial value.
  void Start(const Config& config);
  void Stop();

  // The pool's metadata as last seen; NotFound once it was listed without
  // it or its deletion was watched; Unknown before the first list.
  kube::StatusOr<nlohmann::json> Last() const;

  void BeginList() override;
  void ListItem(nlohmann::json&& obj) override;
  void EndList() override;
  void AbortList() override;
  void OnEvent(kube::WatchEventType type, nlohmann::json&& obj) override;

 private:
  void Set(kube::StatusOr<nlohmann::json> seen);

  const std::string pool_;
  kube::Clock& clock_;
  std::shared_ptr<kube::Client> client_;
  std::unique_ptr<kube::Reflector> reflector_;
  std::jthread thread_;

  mutable kube::Mutex mu_;
  kube::StatusOr<nlohmann::json> last_ HF_GUARDED_BY(mu_);
  // The current list's item; only the reflector's thread touches it.
  std::optional<nlohmann::json> listed_;
};

}  // namespace hf::agent

#endif  // HF_AGENT_POOL_WATCH_H_
