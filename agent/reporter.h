// Reporter: keeps the node's DevicePoolNode in step with what the agent
// observes, writing only when the status would change (a resync that finds
// nothing new sends nothing). Writes are server-side applies with field
// manager devicepool-agent: the object once (metadata and spec, owned by the
// pool), then the status subresource. It syncs when poked (devices, health,
// registration or the allocated count changed) and every `resync` as a
// backstop. If the API server is unreachable it retries with exponential
// backoff; the kubelet side never waits for it.
//
// Thread-safety: Start and Stop from one thread; Poke from any thread; Sync
// is for the loop (and tests) only.
#ifndef HF_AGENT_REPORTER_H_
#define HF_AGENT_REPORTER_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "agent/agent_metrics.h"
#include "agent/node_report.h"
#include "kube/clock.h"
#include "kube/rest/client.h"
#include "kube/status.h"

namespace hf::agent {

struct ReporterOptions {
  ReportIdentity identity;
  std::chrono::milliseconds resync{std::chrono::seconds(30)};
  std::chrono::milliseconds initial_backoff{std::chrono::seconds(1)};
  std::chrono::milliseconds max_backoff{std::chrono::seconds(60)};
};

class Reporter {
 public:
  // Makes the API client; called until it succeeds (in-cluster credentials
  // may appear after the agent starts).
  using ClientFactory = std::function<kube::StatusOr<std::shared_ptr<kube::Client>>()>;
  // Gathers what the report says; runs on the reporter's thread.
  using Observe = std::function<Observation()>;

  Reporter(ReporterOptions options, ClientFactory client_factory, Observe observe, AgentMetrics& metrics,
           kube::Clock& clock);
  ~Reporter();  // Stops.

  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;

  void Start();
  void Stop();

  // Something the report shows may have changed.
  void Poke();

  // Observes and, if the status differs from the last one written, writes.
  kube::Status Sync();

 private:
  void Run();

  const ReporterOptions options_;
  const ClientFactory client_factory_;
  const Observe observe_;
  AgentMetrics& metrics_;
  kube::Clock& clock_;

  // Sync state; used by one thread at a time (the loop).
  std::shared_ptr<kube::Client> client_;
  bool object_applied_ = false;
  std::optional<api::DevicePoolNodeStatus> written_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = true;       // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  std::thread thread_;
};

}  // namespace hf::agent

#endif  // HF_AGENT_REPORTER_H_
