#include "operator/reconciler.h"

#include <spdlog/spdlog.h>

#include <tuple>

#include "api/names.h"
#include "operator/desired.h"
#include "kube/rest/credentials.h"
#include "operator/parallel.h"
#include "operator/rollout.h"

namespace hf::controller {
namespace {

using kube::Status;
using kube::StatusOr;

std::string Key(const std::string& ns, const std::string& name) { return ns.empty() ? name : ns + "/" + name; }

std::string KindOf(const Json& obj) { return obj.value("kind", ""); }

// How long a deleted pool waits for its agents to stop (they clean up their
// nodes as they do) before its finalizer is released anyway.
constexpr auto kAgentStopGrace = std::chrono::seconds(60);

// WaitForClaims's answer when nothing holds the agents.
std::optional<kube::Result> NotWaiting() { return std::nullopt; }

// Whether a pod template's agent serves DRA (its arguments say so).
bool TemplateServesDra(const Json& pod_template) {
  const Json containers = pod_template.value("spec", Json::object()).value("containers", Json::array());
  for (const auto& c : containers) {
    if (!c.is_object() || c.value("name", "") != "agent") continue;
    for (const auto& a : c.value("args", Json::array())) {
      if (a == kDraAgentArg) return true;
    }
  }
  return false;
}

}  // namespace

void DevicePoolReconciler::Event(const kube::ObjectMeta& pool, kube::EventType type, std::string_view reason,
                                 std::string_view action, const std::string& note) {
  d_.events.Eventf({std::string(api::kApiVersion), std::string(api::kDevicePoolKind), pool.name, "", pool.uid}, type,
                   reason, action, note);
}

namespace {

// The pools of `entries` that decoded (`entries` keeps them alive).
template <typename Entries>
std::vector<const api::DevicePool*> DecodedPools(const Entries& entries) {
  std::vector<const api::DevicePool*> pools;
  for (const auto& e : entries) {
    if (e->pool) pools.push_back(&*e->pool);
  }
  return pools;
}

}  // namespace

api::NodeClaims DevicePoolReconciler::Select(const api::DevicePool& pool) const {
  const auto entries = d_.caches.pools.List();
  const std::vector<const api::DevicePool*> pools = DecodedPools(entries);
  const auto node_entries = d_.caches.nodes.List();
  std::vector<api::NodeLabels> nodes;
  nodes.reserve(node_entries.size());
  for (const auto& n : node_entries) nodes.push_back({n->metadata.name, n->metadata.labels});
  return api::ClaimNodes(pool, pools, nodes);
}

int DevicePoolReconciler::SyncLabels(const std::string& pool, const std::set<std::string>& wanted, Status* error) {
  *error = Status::Ok();
  const std::string key = api::NodeSelectionLabel(pool);
  const std::string value(api::kNodeSelectionLabelValue);
  // The pool owns its label key whatever the value: a node carrying the key
  // with another value is set to `value` if wanted and cleared if not.
  std::set<std::string> have, carrying;
  for (const auto& n : d_.caches.nodes.store().ByIndex(kByPoolLabelIndex, key)) {
    carrying.insert(n->metadata.name);
    if (n->metadata.labels.at(key) == value) have.insert(n->metadata.name);
  }
  struct Change {
    std::string node;
    bool add;
  };
  std::vector<Change> changes;
  for (const auto& n : wanted) {
    if (!have.count(n)) changes.push_back({n, true});
  }
  for (const auto& n : carrying) {
    if (!wanted.count(n)) changes.push_back({n, false});
  }
  if (changes.empty()) return static_cast<int>(have.size());
  spdlog::debug("pool {}: {} node label change(s)", pool, changes.size());

  auto results = labellers_.ParallelFor(changes.size(), d_.label_concurrency, [&](size_t i) -> Status {
    Json patch = {{"metadata", {{"labels", {{key, changes[i].add ? Json(value) : Json(nullptr)}}}}}};
    auto r = d_.client.Patch(kube::resources::Nodes(), "", changes[i].node, kube::PatchType::kMerge, patch.dump(),
                             kube::PatchOptions{kFieldManager, "", false});
    // A node deleted meanwhile needs no label.
    return r.ok() || kube::IsNotFound(r.status()) ? Status::Ok() : r.status();
  });
  int count = static_cast<int>(have.size());
  int added = 0, removed = 0;
  Status first_error;
  for (size_t i = 0; i < changes.size(); ++i) {
    if (!results[i].ok()) {
      if (first_error.ok()) first_error = results[i];
      continue;
    }
    if (changes[i].add) {
      ++count;
      ++added;
    } else {
      if (have.count(changes[i].node)) --count;
      ++removed;
    }
  }
  spdlog::info("pool {}: labelled {} node(s), unlabelled {}", pool, added, removed);
  if (auto entry = d_.caches.pools.Get(pool); entry && (added || removed)) {
    Event(entry->metadata, kube::EventType::kNormal, "NodesLabelled", "Label",
          "labelled " + std::to_string(added) + " node(s), unlabelled " + std::to_string(removed) + " with " + key);
  }
  *error = first_error;
  return count;
}

namespace {

// A write to a kind whose CRD is gone (404: an apply creates what is
// missing, so the kind itself is) or being deleted (the API server refuses
// creates with 403 until the CRD is gone; no reason of its own says so).
bool KindGoingAway(const Status& st) {
  return kube::IsNotFound(st) ||
         (kube::IsForbidden(st) && st.message().find("custom resource definition is terminating") != std::string::npos);
}

}  // namespace

Status DevicePoolReconciler::ApplyChild(const api::DevicePool& pool, const kube::GroupVersionResource& gvr,
                                        const Json& desired, const ChildEntry* cached, bool kind_may_vanish) {
  if (cached != nullptr && IsSubset(desired, cached->object)) return Status::Ok();
  const kube::ObjectMeta meta = kube::ObjectMeta::FromJson(desired, /*with_annotations=*/false);
  const std::string& ns = meta.namespace_;
  const std::string& name = meta.name;
  kube::ApplyOptions opts;
  opts.field_manager = kFieldManager;
  opts.force = true;  // we own these objects; take fields back from hand edits
  auto r = d_.client.Apply(gvr, ns, desired, opts);
  if (!r.ok()) {
    if (!(kind_may_vanish && KindGoingAway(r.status()))) {
      Event(pool.metadata, kube::EventType::kWarning, "ApplyFailed", "Apply",
            KindOf(desired) + " " + Key(ns, name) + ": " + r.status().ToString());
    }
    return r.status();
  }
  spdlog::info("pool {}: applied {} {}{}", pool.metadata.name, KindOf(desired), Key(ns, name),
               cached == nullptr ? " (new)" : " (differed from the desired state)");
  if (cached == nullptr) {
    Event(pool.metadata, kube::EventType::kNormal, "Created", "Create", "created " + KindOf(desired) + " " + Key(ns, name));
  } else {
    Event(pool.metadata, kube::EventType::kNormal, "Updated", "Update",
          "updated " + KindOf(desired) + " " + Key(ns, name) + " to the desired state");
  }
  return Status::Ok();
}

Status DevicePoolReconciler::DeleteChildIfPresent(const api::DevicePool& pool, const kube::GroupVersionResource& gvr,
                                                  const std::string& ns, const std::string& name) {
  auto got = d_.client.Get(gvr, ns, name, kube::GetOptions{true});
  if (!got.ok()) return kube::IsNotFound(got.status()) ? Status::Ok() : got.status();
  auto meta = kube::ObjectMeta::FromJson(*got);
  const auto* ref = meta.ControllerRef();
  if (ref == nullptr || ref->uid != pool.metadata.uid) return Status::Ok();  // not ours to delete
  Status st = d_.client.Delete(gvr, ns, name);
  if (!st.ok() && !kube::IsNotFound(st)) return st;
  Event(pool.metadata, kube::EventType::kNormal, "Deleted", "Delete", "deleted " + gvr.resource + " " + Key(ns, name));
  return Status::Ok();
}

Status DevicePoolReconciler::ApplyChildren(const api::DevicePool& pool, const Json* pinned_template,
                                           bool* monitoring_served) {
  const auto& cfg = d_.config;
  const std::string name = ChildName(pool.metadata.name);
  const std::string key = Key(cfg.namespace_, name);
  auto sa = d_.caches.service_accounts.Get(key);
  Status st = ApplyChild(pool, kube::resources::ServiceAccounts(), DesiredServiceAccount(pool, cfg), sa.get());
  if (!st.ok()) return st;
  auto crb = d_.caches.bindings.Get(BindingName(pool.metadata.name));
  Json binding = DesiredClusterRoleBinding(pool, cfg);
  if (crb && crb->object.value("roleRef", Json()) != binding["roleRef"]) {
    // roleRef is immutable: a binding left from another role (a pool
    // recreated under another release before garbage collection ran) is
    // replaced, not patched.
    st = d_.client.Delete(kube::resources::ClusterRoleBindings(), "", crb->metadata.name);
    if (!st.ok() && !kube::IsNotFound(st)) return st;
    crb = nullptr;
  }
  st = ApplyChild(pool, kube::resources::ClusterRoleBindings(), binding, crb.get());
  if (!st.ok()) return st;
  auto ds = d_.caches.daemon_sets.Get(key);
  st = ApplyChild(pool, kube::resources::DaemonSets(), DesiredDaemonSet(pool, cfg, pinned_template), ds.get());
  if (!st.ok()) return st;
  auto svc = d_.caches.services.Get(key);
  st = ApplyChild(pool, kube::resources::Services(), DesiredService(pool, cfg), svc.get());
  if (!st.ok()) return st;

  *monitoring_served = true;
  struct Monitor {
    kube::GroupVersionResource gvr;
    kube::OnDemandInformer<ChildEntry>* cache;
    bool wanted;
    Json (*desired)(const api::DevicePool&, const OperatorConfig&);
  };
  const auto& mon = pool.spec.monitoring;
  for (const Monitor& m :
       {Monitor{ServiceMonitors(), d_.caches.service_monitors, mon.service_monitor.enabled, &DesiredServiceMonitor},
        Monitor{PrometheusRules(), d_.caches.prometheus_rules, mon.prometheus_rule.enabled, &DesiredPrometheusRule}}) {
    auto served = d_.discovery.IsServed(m.gvr);
    if (!served.ok()) return served.status();
    if (!*served) {
      if (m.cache != nullptr) m.cache->Stop();
      *monitoring_served = false;
      continue;
    }
    // Served: watch our objects of this kind like the other children (a
    // no-op once the informer runs). Until it has listed, read the server.
    std::shared_ptr<const kube::SharedInformer<ChildEntry>> cache;
    if (m.cache != nullptr) {
      m.cache->Start();
      cache = m.cache->Synced();
    }
    std::optional<ChildEntry> actual;
    if (cache != nullptr) {
      if (auto entry = cache->Get(key)) actual = *entry;
    } else {
      auto got = d_.client.Get(m.gvr, cfg.namespace_, name);
      if (!got.ok() && !kube::IsNotFound(got.status())) return got.status();
      if (got.ok()) actual = DecodeChildEntry(std::move(*got));
    }
    if (!m.wanted) {
      if (!actual) continue;
      st = DeleteChildIfPresent(pool, m.gvr, cfg.namespace_, name);
      if (!st.ok()) return st;
      continue;
    }
    st = ApplyChild(pool, m.gvr, m.desired(pool, cfg), actual ? &*actual : nullptr, /*kind_may_vanish=*/true);
    if (KindGoingAway(st)) {
      // Its CRD was deleted since discovery last looked: that is "not
      // installed", not a failed reconcile.
      spdlog::info("pool {}: {} is no longer served ({}); asking discovery again", pool.metadata.name,
                   m.gvr.String(), st.message());
      d_.discovery.Invalidate();
      if (m.cache != nullptr) m.cache->Stop();
      *monitoring_served = false;
      continue;
    }
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

Status DevicePoolReconciler::SyncDeviceClass(const api::DevicePool& pool, Observed* seen) {
  const std::string name = api::DraDriverName(pool.metadata.name);
  bool dra_agents = false;
  for (const auto& p : d_.caches.agent_pods.store().ByIndex(kByPoolIndex, pool.metadata.name)) {
    dra_agents = dra_agents || p->dra;
  }
  const bool wanted = pool.spec.allocation_api == api::AllocationApi::kDra || dra_agents;
  seen->device_class_wanted = wanted;
  auto served = d_.discovery.IsServed(DeviceClasses());
  if (!served.ok()) return served.status();
  auto* classes = d_.caches.device_classes;
  auto* slices = d_.caches.resource_slices;
  if (!*served) {
    seen->dra_served = false;
    if (classes != nullptr) classes->Stop();
    if (slices != nullptr) slices->Stop();
    if (d_.caches.resource_claims != nullptr) d_.caches.resource_claims->Stop();
    return Status::Ok();
  }
  // Our DeviceClasses are few and labelled: watched wherever the API is
  // served. Every driver's ResourceSlices: only once a pool uses DRA.
  std::shared_ptr<const kube::SharedInformer<ChildEntry>> cache;
  if (classes != nullptr) {
    classes->Start();
    cache = classes->Synced();
  }
  if (wanted && slices != nullptr) slices->Start();
  if (wanted && d_.caches.resource_claims != nullptr) d_.caches.resource_claims->Start();
  std::optional<ChildEntry> actual;
  if (cache != nullptr) {
    if (auto entry = cache->Get(name)) actual = *entry;
  } else {
    // Until the informer has listed: the server.
    auto got = d_.client.Get(DeviceClasses(), "", name);
    if (!got.ok() && !kube::IsNotFound(got.status())) return got.status();
    if (got.ok()) actual = DecodeChildEntry(std::move(*got));
  }
  if (!wanted) {
    if (!actual) return Status::Ok();
    Status st = DeleteChildIfPresent(pool, DeviceClasses(), "", name);
    if (st.ok()) spdlog::info("pool {}: no agent serves DRA any more; DeviceClass {} removed", pool.metadata.name, name);
    return st;
  }
  {
    const auto entries = d_.caches.pools.List();
    seen->extended_resource_keeper = api::ExtendedResourceKeeper(pool, DecodedPools(entries));
  }
  const bool extended = seen->extended_resource_keeper.empty();
  const Json desired = DesiredDeviceClass(pool, d_.config, extended);
  if (extended && actual && !actual->object.value("spec", Json::object()).contains("extendedResourceName")) {
    Json rest = desired;
    rest["spec"].erase("extendedResourceName");
    if (IsSubset(rest, actual->object)) {
      // Either a hand edit removed it, or the API server drops the field
      // (DRAExtendedResource off): only the answer to an apply tells. In
      // the second case each reconcile of the pool sends this apply again;
      // it changes nothing, so no watch event follows it.
      kube::ApplyOptions opts;
      opts.field_manager = kFieldManager;
      opts.force = true;
      auto r = d_.client.Apply(DeviceClasses(), "", desired, opts);
      if (!r.ok()) return r.status();
      if (r->value("spec", Json::object()).contains("extendedResourceName")) {
        Event(pool.metadata, kube::EventType::kNormal, "Updated", "Update",
              "updated DeviceClass " + name + " to the desired state");
      } else {
        seen->extended_resource_dropped = true;
      }
      return Status::Ok();
    }
  }
  Status st = ApplyChild(pool, DeviceClasses(), desired, actual ? &*actual : nullptr, /*kind_may_vanish=*/true);
  if (KindGoingAway(st)) {
    spdlog::info("pool {}: {} is no longer served ({})", pool.metadata.name, DeviceClasses().String(), st.message());
    d_.discovery.Invalidate();
    seen->dra_served = false;
    return Status::Ok();
  }
  return st;
}

std::optional<int64_t> DevicePoolReconciler::Published(const api::DevicePool& pool, const std::string& node) const {
  if (d_.caches.resource_slices == nullptr) return std::nullopt;
  auto slices = d_.caches.resource_slices->Synced();
  if (slices == nullptr) return std::nullopt;
  return PublishedDevices(*slices, api::DraDriverName(pool.metadata.name), node);
}

Status DevicePoolReconciler::CleanupReports(const std::string& pool, const std::set<std::string>& wanted) {
  for (const auto& report : d_.caches.pool_nodes.store().ByIndex(kByPoolIndex, pool)) {
    if (wanted.count(report->spec.node)) continue;
    Status st = d_.client.Delete(api::DevicePoolNodes(), "", report->metadata.name);
    if (!st.ok() && !kube::IsNotFound(st)) return st;
    if (auto entry = d_.caches.pools.Get(pool)) {
      Event(entry->metadata, kube::EventType::kNormal, "Deleted", "Delete",
            "deleted DevicePoolNode " + report->metadata.name + ": node " + report->spec.node +
                " is gone or no longer in the pool");
    }
  }
  return Status::Ok();
}

Status DevicePoolReconciler::EnsureFinalizer(const PoolEntry& entry) {
  if (entry.metadata.HasFinalizer(std::string(api::kNodeLabelsFinalizer))) return Status::Ok();
  Json finalizers = entry.metadata.finalizers;
  finalizers.push_back(std::string(api::kNodeLabelsFinalizer));
  return PatchFinalizers(entry, finalizers);
}

Status DevicePoolReconciler::PatchFinalizers(const PoolEntry& entry, const Json& finalizers) {
  // resourceVersion makes the merge patch conditional: no lost finalizers.
  Json patch = {{"metadata", {{"finalizers", finalizers}, {"resourceVersion", entry.metadata.resource_version}}}};
  auto r = d_.client.Patch(api::DevicePools(), "", entry.metadata.name, kube::PatchType::kMerge, patch.dump(),
                           kube::PatchOptions{kFieldManager, "", false});
  return r.status();
}

StatusOr<std::optional<kube::Result>> DevicePoolReconciler::WaitForClaims(const PoolEntry& entry) {
  const std::string& name = entry.metadata.name;
  bool dra = (entry.pool && entry.pool->spec.allocation_api == api::AllocationApi::kDra) ||
             api::FindCondition(entry.status.conditions, api::kConditionDeviceClassAvailable) != nullptr;
  for (const auto& p : d_.caches.agent_pods.store().ByIndex(kByPoolIndex, name)) dra = dra || p->dra;
  if (!dra) return NotWaiting();
  auto served = d_.discovery.IsServed(DeviceClasses());
  if (!served.ok()) return served.status();
  if (!*served) return NotWaiting();
  const std::string driver = api::DraDriverName(name);

  // The DeviceClass first: no claim is allocated from it any more, nor a pod
  // asking for the extended resource served through it.
  bool present = true;
  if (auto* classes = d_.caches.device_classes; classes != nullptr) {
    classes->Start();
    if (auto cache = classes->Synced()) present = cache->Get(driver) != nullptr;
  }
  if (present) {
    api::DevicePool owner;
    owner.metadata = entry.metadata;
    Status st = DeleteChildIfPresent(owner, DeviceClasses(), "", driver);
    if (!st.ok()) return st;
  }

  auto* informer = d_.caches.resource_claims;
  if (informer == nullptr) return NotWaiting();
  informer->Start();
  auto claims = informer->Synced();
  const auto now = d_.clock.WallNow();
  if (claims == nullptr) {
    // Not listed yet. A server that refuses the list (RBAC from an older
    // chart) must not hold the deletion for ever.
    std::chrono::system_clock::time_point deleted;
    if (kube::ParseRfc3339(entry.metadata.deletion_timestamp, &deleted) && now - deleted >= kAgentStopGrace) {
      spdlog::warn("pool {}: ResourceClaims not listed {}s after the deletion; not waiting for them", name,
                   std::chrono::duration_cast<std::chrono::seconds>(kAgentStopGrace).count());
      return NotWaiting();
    }
    return std::optional(kube::Result{false, std::chrono::seconds(1)});
  }
  // Claims on a Node that no longer exists need no agent: nothing is left
  // there to unprepare.
  std::vector<std::string> holding;
  for (const auto& c : claims->store().ByIndex(kByDriverIndex, driver)) {
    for (const auto& d : c->devices) {
      if (d.driver != driver || d_.caches.nodes.Get(d.pool) == nullptr) continue;
      holding.push_back(c->metadata.Key());
      break;
    }
  }
  std::sort(holding.begin(), holding.end());
  const api::DevicePoolStatus st = DeletingStatus(entry.metadata, entry.status, driver, holding, now);
  if (!holding.empty()) {
    const api::Condition* before = api::FindCondition(entry.status.conditions, api::kConditionProgressing);
    const api::Condition* after = api::FindCondition(st.conditions, api::kConditionProgressing);
    if (before == nullptr || before->message != after->message) {
      spdlog::info("pool {}: deleted, waiting for {} ResourceClaim(s) of driver {}", name, holding.size(), driver);
      Event(entry.metadata, kube::EventType::kNormal, kWaitingForClaims, "Delete", after->message);
    }
  }
  Status written = WriteStatus(entry, st);
  if (!written.ok()) return written;
  if (holding.empty()) return NotWaiting();
  // Each claim's release brings the pool back; this is a backstop.
  return std::optional(kube::Result{false, std::chrono::seconds(30)});
}

StatusOr<kube::Result> DevicePoolReconciler::Finalize(const PoolEntry& entry) {
  const std::string& name = entry.metadata.name;
  if (!entry.metadata.HasFinalizer(std::string(api::kNodeLabelsFinalizer))) return kube::Result{};
  // A DRA pool's agents stay while claims hold its devices: the labels,
  // which the DaemonSet selects on, stay until then.
  auto waiting = WaitForClaims(entry);
  if (!waiting.ok()) return waiting.status();
  if (*waiting) return **waiting;
  Status labels;
  SyncLabels(name, {}, &labels);
  if (!labels.ok()) return labels;
  // With the labels gone the DaemonSet controller stops the agents. They
  // remove a deleted pool's files from their nodes as they stop, which
  // needs their credentials: the pool's binding, collected with the pool.
  // So the pool stays until its agents on Ready nodes are gone, for a while
  // at most: a node that never confirms must not block the deletion. The
  // while starts with the deletion, or after a wait for claims with its end.
  int running = 0;
  for (const auto& p : d_.caches.agent_pods.store().ByIndex(kByPoolIndex, name)) {
    auto node = d_.caches.nodes.Get(p->node);
    if (node && node->ready == "True") ++running;
  }
  const auto now = d_.clock.WallNow();
  std::chrono::system_clock::time_point deleted;
  if (const api::Condition* c = api::FindCondition(entry.status.conditions, api::kConditionProgressing)) {
    if (c->reason == kWaitingForClaims) {
      deleted = now;  // the wait ended in this reconcile
    } else if (c->reason == kAgentsStopping) {
      (void)kube::ParseRfc3339(c->last_transition_time, &deleted);
    }
  }
  if (std::chrono::system_clock::time_point at; kube::ParseRfc3339(entry.metadata.deletion_timestamp, &at)) {
    deleted = std::max(deleted, at);
  }
  if (running > 0 && deleted != std::chrono::system_clock::time_point{} && now - deleted < kAgentStopGrace) {
    spdlog::debug("pool {}: waiting for {} agent pod(s) to stop", name, running);
    return kube::Result{false, std::chrono::seconds(2)};
  }
  Json finalizers = Json::array();
  for (const auto& f : entry.metadata.finalizers) {
    if (f != api::kNodeLabelsFinalizer) finalizers.push_back(f);
  }
  Status released = PatchFinalizers(entry, finalizers);
  if (!released.ok() && !kube::IsNotFound(released)) return released;
  if (d_.metrics != nullptr) d_.metrics->Remove(name);
  spdlog::info("pool {}: labels removed, finalizer released", name);
  return kube::Result{};
}

Status DevicePoolReconciler::WriteStatus(const PoolEntry& entry, const api::DevicePoolStatus& status) {
  if (d_.metrics != nullptr) d_.metrics->Set(entry.metadata.name, status);
  if (status == entry.status) return Status::Ok();
  spdlog::debug("pool {}: writing status", entry.metadata.name);
  Json obj = {{"apiVersion", std::string(api::kApiVersion)},
              {"kind", std::string(api::kDevicePoolKind)},
              {"metadata", {{"name", entry.metadata.name}}},
              {"status", api::EncodeDevicePoolStatus(status)}};
  kube::ApplyOptions opts;
  opts.field_manager = kFieldManager;
  opts.force = true;
  opts.subresource = "status";
  auto r = d_.client.Apply(api::DevicePools(), "", obj, opts);
  if (kube::IsNotFound(r.status())) return Status::Ok();
  return r.status();
}

RolloutDecision DevicePoolReconciler::PlanAgents(const PoolEntry& entry, const api::DevicePool& pool,
                                                const std::set<std::string>& wanted,
                                                const std::string& spec_revision) {
  RolloutInput in;
  in.spec = pool.spec.rollout;
  in.previous = entry.status.rollout;
  in.spec_revision = spec_revision;
  in.now = d_.clock.WallNow();
  in.dra_driver = api::DraDriverName(pool.metadata.name);
  if (pool.spec.allocation_api == api::AllocationApi::kDra) in.dra_revisions.insert(spec_revision);
  if (auto ds = d_.caches.daemon_sets.Get(Key(d_.config.namespace_, ChildName(pool.metadata.name)))) {
    const DaemonSetView view = DaemonSetView::Of(ds->object);
    in.daemon_set_revision = view.template_hash;
    in.daemon_set_synced = view.Synced();
    if (TemplateServesDra(ds->object.value("spec", Json::object()).value("template", Json::object()))) {
      in.dra_revisions.insert(view.template_hash);
    }
  }
  for (const auto& n : wanted) {
    RolloutNodeView& v = in.nodes[n];
    if (auto node = d_.caches.nodes.Get(n)) {
      v.node_ready = node->ready == "True";
      if (auto a = node->allocatable.find(pool.spec.resource_name); a != node->allocatable.end()) {
        v.allocatable = DeviceCount(a->second);
      }
    } else {
      v.node_ready = false;
    }
  }
  for (const auto& r : d_.caches.pool_nodes.store().ByIndex(kByPoolIndex, pool.metadata.name)) {
    auto it = in.nodes.find(r->spec.node);
    if (it == in.nodes.end()) continue;
    it->second.report = RolloutNodeView::Report{r->status.agent_revision, r->status.registered,
                                                r->status.counts.healthy, r->status.counts.allocated};
  }
  std::shared_ptr<const kube::SharedInformer<ResourceClaimEntry>> claims;
  if (d_.caches.resource_claims != nullptr) claims = d_.caches.resource_claims->Synced();
  for (const auto& p : d_.caches.agent_pods.store().ByIndex(kByPoolIndex, pool.metadata.name)) {
    if (p->dra) in.dra_revisions.insert(p->template_hash);
    auto it = in.nodes.find(p->node);
    if (it == in.nodes.end()) continue;
    if (p->metadata.deleting) {
      it->second.pod_terminating = true;
      continue;
    }
    it->second.pod =
        RolloutNodeView::Pod{p->template_hash, p->ready, p->restarts, p->waiting_reason, p->last_exit, p->dra};
    if (p->dra) {
      it->second.published = Published(pool, p->node);
      if (claims != nullptr) {
        it->second.claims = static_cast<int>(ClaimedOn(*claims, in.dra_driver, p->node).claims.size());
      }
    }
  }
  if (pool.spec.rollout.strategy == api::RolloutStrategy::kRollingUpdate) {
    RolloutDecision d;
    d.status = ObserveRollingUpdate(in);
    d.template_revision = spec_revision;
    return d;
  }
  return PlanRollout(in);
}

StatusOr<Json> DevicePoolReconciler::PinnedTemplate(const api::DevicePool& pool, const std::string& revision) {
  const std::string ns = d_.config.namespace_;
  if (auto ds = d_.caches.daemon_sets.Get(Key(ns, ChildName(pool.metadata.name)))) {
    Json tmpl = ds->object.value("spec", Json::object()).value("template", Json::object());
    if (TemplateRevision(tmpl) == revision) {
      DropNulls(tmpl);
      return tmpl;
    }
  }
  // The DaemonSet controller keeps each template it ran in a
  // ControllerRevision (revisionHistoryLimit of them).
  kube::ListOptions lo;
  lo.label_selector = std::string(api::kPoolLabel) + "=" + pool.metadata.name;
  auto list = d_.client.List(kube::resources::ControllerRevisions(), ns, lo);
  if (!list.ok()) return list.status();
  for (const auto& cr : list->items) {
    Json tmpl = ControllerRevisionTemplate(cr);
    if (TemplateRevision(tmpl) == revision) return tmpl;
  }
  return Status(kube::Reason::kNotFound, "the agent template of revision " + revision +
                                             " is in no ControllerRevision of the DaemonSet any more");
}

Status DevicePoolReconciler::ReplaceAgents(const PoolEntry& entry, const api::DevicePool& pool,
                                           const RolloutDecision& plan) {
  // The status first, conditional on the pool's resourceVersion: an
  // operator that stops after it resumes from it, and of two operators that
  // both decided, only one gets to act.
  api::DevicePoolStatus interim = entry.status;
  interim.rollout = plan.status;
  Json obj = {{"apiVersion", std::string(api::kApiVersion)},
              {"kind", std::string(api::kDevicePoolKind)},
              {"metadata", {{"name", entry.metadata.name}, {"resourceVersion", entry.metadata.resource_version}}},
              {"status", api::EncodeDevicePoolStatus(interim)}};
  kube::ApplyOptions opts;
  opts.field_manager = kFieldManager;
  opts.force = true;
  opts.subresource = "status";
  auto written = d_.client.Apply(api::DevicePools(), "", obj, opts);
  if (!written.ok()) return written.status();
  std::set<std::string> nodes(plan.replace.begin(), plan.replace.end());
  for (const auto& p : d_.caches.agent_pods.store().ByIndex(kByPoolIndex, pool.metadata.name)) {
    if (!nodes.count(p->node) || p->metadata.deleting) continue;
    Status st = d_.client.Delete(kube::resources::Pods(), p->metadata.namespace_, p->metadata.name);
    if (!st.ok() && !kube::IsNotFound(st)) return st;
    spdlog::info("pool {}: replacing agent pod {} on node {}", pool.metadata.name, p->metadata.name, p->node);
  }
  return Status::Ok();
}

StatusOr<kube::Result> DevicePoolReconciler::Reconcile(const kube::Request& req, std::stop_token) {
  auto entry = d_.caches.pools.Get(req.name);
  if (!entry) {
    // Gone without our finalizer running (it was removed by hand): still
    // take our label off the nodes.
    Status labels;
    SyncLabels(req.name, {}, &labels);
    if (d_.metrics != nullptr) d_.metrics->Remove(req.name);
    if (!labels.ok()) return labels;
    return kube::Result{};
  }
  if (entry->metadata.deleting) return Finalize(*entry);

  Status st = EnsureFinalizer(*entry);
  if (!st.ok()) return st;

  auto now = d_.clock.WallNow();
  if (!entry->pool) {
    auto bad = InvalidStatus(entry->metadata, entry->status, entry->invalid, now);
    if (!(bad == entry->status)) {
      Event(entry->metadata, kube::EventType::kWarning, "InvalidSpec", "Validate", entry->invalid);
    }
    Status written = WriteStatus(*entry, bad);
    if (!written.ok()) return written;
    return kube::Result{};
  }
  const api::DevicePool& pool = *entry->pool;

  api::NodeClaims sel = Select(pool);
  spdlog::debug("pool {}: {} node(s) selected, {} wanted, {} conflicting", pool.metadata.name, sel.selected,
                sel.wanted.size(), sel.conflicts.size());
  for (const auto& [node, other] : sel.conflicts) {
    if (!entry->status.problem_nodes.empty()) break;  // reported already
    Event(entry->metadata, kube::EventType::kWarning, "Conflict", "Select",
          "node " + node + " is claimed by older pool " + other + " with resourceName " + pool.spec.resource_name);
  }

  Observed seen;
  seen.selected = sel.selected;
  seen.conflicts = sel.conflicts;
  seen.monitoring_wanted = pool.spec.monitoring.service_monitor.enabled || pool.spec.monitoring.prometheus_rule.enabled;

  Status labels;
  seen.labelled = SyncLabels(pool.metadata.name, sel.wanted, &labels);
  if (!labels.ok()) seen.error = "labelling nodes: " + labels.ToString();
  // The agent rollout decides which template the DaemonSet carries.
  const std::string spec_revision =
      TemplateRevision(DesiredDaemonSet(pool, d_.config)["spec"]["template"]);
  RolloutDecision plan = PlanAgents(*entry, pool, sel.wanted, spec_revision);
  std::optional<Json> pinned;
  Status children;
  if (plan.template_revision != spec_revision) {
    auto t = PinnedTemplate(pool, plan.template_revision);
    if (t.ok()) {
      pinned = std::move(*t);
    } else {
      children = t.status();
      plan.replace.clear();
    }
  }
  if (children.ok()) children = ApplyChildren(pool, pinned ? &*pinned : nullptr, &seen.monitoring_served);
  if (!children.ok() && seen.error.empty()) seen.error = "applying children: " + children.ToString();
  Status device_class = SyncDeviceClass(pool, &seen);
  if (!device_class.ok() && seen.error.empty()) seen.error = "DeviceClass: " + device_class.ToString();
  for (const auto& e : plan.events) Event(entry->metadata, e.type, e.reason, "Rollout", e.message);
  Status replaced;
  if (!plan.replace.empty() && children.ok()) replaced = ReplaceAgents(*entry, pool, plan);
  if (!replaced.ok() && seen.error.empty()) seen.error = "replacing agents: " + replaced.ToString();
  seen.rollout = plan.status;
  Status cleanup = CleanupReports(pool.metadata.name, sel.wanted);
  if (!cleanup.ok() && seen.error.empty()) seen.error = "removing stale DevicePoolNodes: " + cleanup.ToString();

  seen.node_selector = pool.spec.node_selector.ToSelectorString();
  std::string template_hash;
  if (auto ds = d_.caches.daemon_sets.Get(Key(d_.config.namespace_, ChildName(pool.metadata.name)))) {
    seen.daemon_set = DaemonSetView::Of(ds->object);
    template_hash = seen.daemon_set->template_hash;
  }
  for (const auto& n : sel.wanted) {
    ObservedNode& o = seen.nodes[n];
    if (auto node = d_.caches.nodes.Get(n)) {
      o.ready = node->ready;
      o.advertised = node->allocatable.count(pool.spec.resource_name) > 0;
    }
  }
  for (const auto& r : d_.caches.pool_nodes.store().ByIndex(kByPoolIndex, pool.metadata.name)) {
    if (auto it = seen.nodes.find(r->spec.node); it != seen.nodes.end()) it->second.report = *r;
  }
  for (const auto& p : d_.caches.agent_pods.store().ByIndex(kByPoolIndex, pool.metadata.name)) {
    auto it = seen.nodes.find(p->node);
    if (it == seen.nodes.end()) continue;
    // A managed rollout keeps agents of the last good revision running:
    // they are as current as the DaemonSet's template.
    const bool current = p->template_hash == template_hash ||
                         (pool.spec.rollout.strategy == api::RolloutStrategy::kManaged &&
                          (p->template_hash == plan.status.current_revision ||
                           p->template_hash == plan.status.update_revision));
    AgentPod pod{p->metadata.name, p->ready,       current,      p->metadata.deleting,
                 p->restarts,      p->waiting_reason, p->last_exit, p->dra};
    // During a replacement the old pod may still be terminating: the live
    // one speaks for the node.
    auto& have = it->second.agent;
    if (!have || (have->terminating && !pod.terminating)) have = std::move(pod);
  }
  // A node whose agent serves DRA offers its devices in ResourceSlices, not
  // in the Node's allocatable; unknown until the slices are cached.
  if (auto* slices = d_.caches.resource_slices; slices != nullptr) {
    const auto slice_cache = slices->Synced();
    std::shared_ptr<const kube::SharedInformer<ResourceClaimEntry>> claims;
    if (d_.caches.resource_claims != nullptr) claims = d_.caches.resource_claims->Synced();
    const std::string driver = api::DraDriverName(pool.metadata.name);
    for (auto& [node, o] : seen.nodes) {
      if (!o.agent || !o.agent->dra || slice_cache == nullptr) continue;  // advertised until known otherwise
      // Its devices: those its slices publish, healthy unless tainted so.
      // Its allocated devices: those claims hold, and those containers still
      // hold through the device plugin API (the node was switched to DRA
      // under them), which its slices taint; each device once. The agent's
      // report counts the same devices, but of the claims only those it has
      // prepared, and only as of its last write; it stays the count until
      // the node's slices are published (and, for allocated, the claims are
      // listed).
      auto published = PublishedOn(*slice_cache, driver, node);
      o.advertised = published.has_value();
      if (!published) continue;
      o.total = static_cast<int>(published->total);
      o.healthy = static_cast<int>(published->total - static_cast<int64_t>(published->unhealthy.size()));
      if (claims == nullptr) continue;
      std::set<std::string> allocated = ClaimedOn(*claims, driver, node).devices;
      allocated.insert(published->device_plugin_held.begin(), published->device_plugin_held.end());
      o.allocated = static_cast<int>(allocated.size());
    }
  }

  st = WriteStatus(*entry, ComputeStatus(pool, seen, now));
  // The first failure decides the retry; a Conflict is only a race.
  for (const Status* s :
       std::initializer_list<const Status*>{&labels, &children, &device_class, &replaced, &cleanup, &st}) {
    if (!s->ok()) return *s;
  }
  kube::Result result;
  if (plan.requeue_after) result.requeue_after = *plan.requeue_after;
  return result;
}

}  // namespace hf::controller
