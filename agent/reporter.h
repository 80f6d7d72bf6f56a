// Reporter: keeps the node's DevicePoolNode in step with what the agent
// observes, writing only when the status would change (a resync that finds
// nothing new sends nothing). Writes are server-side applies with field
// manager devicepool-agent: the object once (metadata and spec, owned by the
// pool), then the status subresource. It syncs when poked (devices, health,
// registration or the allocated count changed) and every `resync` as a
// backstop. A failed write is retried (kube::PlanRetry: at least once a
// second while the server is unreachable, exponential backoff while it
// answers with errors), and a new change cuts a long backoff short, so a
// change reaches the server within about a second of its return. The
// kubelet side never waits for any of it.
//
// With `watch`, the reporter also watches its own DevicePoolNode: deleted,
// or its status changed by someone else, it is written again at once.
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
#include "kube/cache/shared_informer.h"
#include "kube/clock.h"
#include "kube/rest/backoff.h"
#include "kube/rest/client.h"
#include "kube/status.h"
#include "kube/mutex.h"

namespace hf::agent {

struct ReporterOptions {
  ReportIdentity identity;
  std::chrono::milliseconds resync{std::chrono::seconds(30)};
  kube::BackoffPolicy backoff{std::chrono::seconds(1), std::chrono::seconds(60)};
  bool watch = false;  // watch the own object (the agent does; unit tests choose)
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

  // The object on the server is gone or not what was written: write it all
  // again, now.
  void Rewrite();

  // Observes and, if the status differs from the last one written, writes.
  kube::Status Sync();

 private:
  void Run();
  void StartWatch();
  void OnServerCopy(const api::DevicePoolNode& seen);

  const ReporterOptions options_;
  const ClientFactory client_factory_;
  const Observe observe_;
  AgentMetrics& metrics_;
  kube::Clock& clock_;

  // Sync state; used by one thread at a time (the loop).
  std::shared_ptr<kube::Client> client_;
  bool object_applied_ = false;
  std::optional<api::DevicePoolNodeStatus> written_;

  std::unique_ptr<kube::SharedInformer<api::DevicePoolNode>> watch_;
  std::jthread watch_thread_;

  kube::Mutex mu_;
  std::condition_variable cv_;
  bool dirty_ HF_GUARDED_BY(mu_) = true;
  bool rewrite_ HF_GUARDED_BY(mu_) = false;  // forget what was written
  bool urgent_ HF_GUARDED_BY(mu_) = false;  // a change arrived; cut the backoff short
  bool stopping_ HF_GUARDED_BY(mu_) = false;
  std::optional<api::DevicePoolNodeStatus> last_written_ HF_GUARDED_BY(mu_);  // for the watch's comparison
  std::thread thread_;
};

}  // namespace hf::agent

#endif  // HF_AGENT_REPORTER_H_
