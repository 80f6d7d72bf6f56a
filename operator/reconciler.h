// DevicePoolReconciler: makes the cluster match one DevicePool. Level-based:
// it reads the pool, Nodes and children from the caches, labels the nodes the
// pool may use (never ones an older pool with the same resource name claims),
// server-side-applies each child only when the server's copy differs from the
// desired one (so a resync with nothing new writes nothing, and a hand edit
// is reverted), removes DevicePoolNodes of nodes it no longer runs on, and
// writes the aggregated status when it changed. A finalizer removes the node
// labels when the pool is deleted; garbage collection removes the children.
// A deleted DRA pool loses its DeviceClass at once but keeps its labels, and
// so its agents, while ResourceClaims hold devices of its driver.
//
// Thread-safety: Reconcile may run concurrently for different pools.
#ifndef HF_OPERATOR_RECONCILER_H_
#define HF_OPERATOR_RECONCILER_H_

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "api/node_claims.h"
#include "kube/controller/reconciler.h"
#include "kube/discovery/discovery.h"
#include "kube/events/event_recorder.h"
#include "kube/rest/client.h"
#include "operator/caches.h"
#include "operator/config.h"
#include "operator/desired.h"
#include "operator/parallel.h"
#include "operator/pool_metrics.h"
#include "operator/pool_status.h"
#include "operator/rollout.h"

namespace hf::controller {

struct ReconcilerDeps {
  kube::ReadWriter& client;
  Caches caches;
  kube::Discovery& discovery;
  kube::EventRecorder& events;
  PoolMetrics* metrics = nullptr;
  kube::Clock& clock;
  OperatorConfig config;
  int label_concurrency = 16;
};

class DevicePoolReconciler final : public kube::Reconciler {
 public:
  explicit DevicePoolReconciler(ReconcilerDeps deps)
      : d_(std::move(deps)), labellers_(std::max(0, d_.label_concurrency - 1)) {}

  kube::StatusOr<kube::Result> Reconcile(const kube::Request& req, std::stop_token stop) override;

 private:
  // The nodes the pool keeps (api::ClaimNodes over the caches).
  api::NodeClaims Select(const api::DevicePool& pool) const;
  // Adds or removes the pool label so exactly `wanted` carry it; returns how
  // many nodes carry it afterwards (also when some patches failed: the
  // status counts what is true) and sets *error to the first failure.
  int SyncLabels(const std::string& pool, const std::set<std::string>& wanted, kube::Status* error);
  kube::Status ApplyChildren(const api::DevicePool& pool, const Json* pinned_template, bool* monitoring_served);
  // The pool's DeviceClass: applied while the spec says DRA or any of its
  // agents still serves DRA (so claims keep being allocated on the nodes a
  // switch back to DevicePlugin has not reached yet), deleted after. Starts
  // the resource.k8s.io informers where that API is served.
  kube::Status SyncDeviceClass(const api::DevicePool& pool, Observed* seen);
  // The devices the node's ResourceSlices of the pool's driver publish;
  // nullopt when none or while the slices are not cached yet.
  std::optional<int64_t> Published(const api::DevicePool& pool, const std::string& node) const;
  // One step of the agent rollout (operator/rollout.h) from the caches.
  RolloutDecision PlanAgents(const PoolEntry& entry, const api::DevicePool& pool,
                             const std::set<std::string>& wanted, const std::string& spec_revision);
  // The pod template of an earlier revision: the DaemonSet's, or from its
  // ControllerRevisions.
  kube::StatusOr<Json> PinnedTemplate(const api::DevicePool& pool, const std::string& revision);
  // Writes the rollout's status (conditional on the pool's resourceVersion),
  // then deletes the agent pods of plan.replace.
  kube::Status ReplaceAgents(const PoolEntry& entry, const api::DevicePool& pool, const RolloutDecision& plan);
  // Applies desired unless cached already holds it. A failure is recorded
  // as an ApplyFailed Event, except when `kind_may_vanish` (a kind from a
  // CRD that may be deleted) and the kind is going away: the caller handles
  // that.
  kube::Status ApplyChild(const api::DevicePool& pool, const kube::GroupVersionResource& gvr, const Json& desired,
                          const ChildEntry* cached, bool kind_may_vanish = false);
  kube::Status DeleteChildIfPresent(const api::DevicePool& pool, const kube::GroupVersionResource& gvr,
                                    const std::string& ns, const std::string& name);
  kube::Status CleanupReports(const std::string& pool, const std::set<std::string>& wanted);
  kube::Status EnsureFinalizer(const PoolEntry& entry);
  // Sets the pool's finalizers, conditional on the cached resourceVersion.
  kube::Status PatchFinalizers(const PoolEntry& entry, const Json& finalizers);
  kube::StatusOr<kube::Result> Finalize(const PoolEntry& entry);
  // A deleted pool that used DRA: deletes its DeviceClass, then waits while
  // ResourceClaims hold devices of its driver on existing Nodes (only its
  // agents unprepare them, and the kubelet finishes a pod only after that),
  // saying so in the status. The result to return while it waits; nullopt
  // once nothing holds the agents.
  kube::StatusOr<std::optional<kube::Result>> WaitForClaims(const PoolEntry& entry);
  kube::Status WriteStatus(const PoolEntry& entry, const api::DevicePoolStatus& status);
  void Event(const kube::ObjectMeta& pool, kube::EventType type, std::string_view reason, std::string_view action,
             const std::string& note);

  ReconcilerDeps d_;
  TaskPool labellers_;  // label patches: the reconciling thread and these
};

}  // namespace hf::controller

#endif  // HF_OPERATOR_RECONCILER_H_
