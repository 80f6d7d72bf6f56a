#include "operator/run.h"

#include <spdlog/spdlog.h>

#include <set>

#include "api/names.h"
#include "kube/controller/controller.h"
#include "kube/discovery/discovery.h"
#include "kube/events/event_recorder.h"
#include "kube/manager/manager.h"
#include "kube/rest/config.h"
#include "kube/workqueue/prometheus_metrics.h"
#include "kube/workqueue/token_bucket.h"
#include "operator/desired.h"
#include "operator/reconciler.h"

namespace hf::controller {
namespace {

using kube::Request;

template <typename T>
using Informer = kube::SharedInformer<T>;

// Pools a node concerns: those whose selector matches its labels, and those
// whose label it carries.
std::vector<Request> PoolsForNode(const Informer<PoolEntry>& pools, const NodeEntry& node) {
  std::vector<Request> out;
  for (const auto& p : pools.List()) {
    bool labelled = node.metadata.labels.count(api::NodeSelectionLabel(p->metadata.name)) > 0;
    bool matches = p->pool && p->pool->spec.node_selector.Matches(node.metadata.labels);
    if (labelled || matches) out.push_back({"", p->metadata.name});
  }
  return out;
}

void EnqueueAll(kube::Controller& c, const Informer<PoolEntry>& pools) {
  for (const auto& p : pools.List()) c.Enqueue({"", p->metadata.name});
}

}  // namespace

kube::Status RunOperator(const Options& o, std::stop_token stop) {
  auto rest = kube::LoadConfig(o.kubeconfig);
  if (!rest.ok()) return rest.status();
  rest->user_agent = "devicepool-operator";

  kube::ManagerOptions mo;
  mo.http_address = o.http_address;
  mo.leader_election = o.leader_elect;
  mo.leader_election_config.namespace_ = o.config.namespace_;
  mo.leader_election_config.name = o.leader_election_id;
  mo.leader_election_config.identity = o.identity;
  kube::Manager mgr(mo);

  kube::ClientOptions co;
  // --qps=0: no client-side limit; the API server's Priority and Fairness
  // queues the operator's requests instead (429 with Retry-After is honoured).
  if (o.qps > 0) co.rate_limiter = std::make_shared<kube::TokenBucket>(o.qps, o.burst);
  co.on_request = [&mgr](const kube::RequestRecord& r) {
    mgr.metrics().ObserveRequest(r.verb, r.resource, r.code, std::chrono::duration<double>(r.seconds));
  };
  kube::Client client(kube::NewCurlTransport(*rest), co);

  OperatorInformers informers(client, o.config.namespace_);
  auto& pools = informers.pools;
  auto& nodes = informers.nodes;
  auto& service_monitors = informers.service_monitors;
  auto& prometheus_rules = informers.prometheus_rules;
  Caches caches = informers.caches();

  // A short cache: reconciles are event-driven, so this bounds discovery
  // reads without hiding a freshly served CRD for long.
  kube::ServerDiscovery discovery(client, kube::DefaultClock(), std::chrono::seconds(2));
  kube::EventRecorderImpl events(client, {"hashfoundry.com/devicepool-operator", o.identity});
  PoolMetrics pool_metrics(*mgr.registry());
  DevicePoolReconciler reconciler({client, caches, discovery, events, &pool_metrics, kube::DefaultClock(), o.config,
                                   o.label_concurrency});

  kube::ControllerOptions ctl;
  ctl.name = "devicepool";
  ctl.max_concurrent_reconciles = o.max_concurrent_reconciles;
  ctl.metrics = &mgr.metrics();
  ctl.queue_metrics = std::make_unique<kube::PrometheusQueueMetrics>(*mgr.registry(), "devicepool");
  kube::Controller controller(std::move(ctl), reconciler);

  // Pools: a spec change (or a pool appearing or going) can move node
  // ownership between pools with the same resource name, so all look again;
  // a status-only change concerns the pool alone.
  controller.AddSyncable(&pools);
  pools.AddEventHandler({[&](const PoolEntry&) { EnqueueAll(controller, pools); },
                         [&](const PoolEntry& a, const PoolEntry& b) {
                           if (a.metadata.generation != b.metadata.generation ||
                               a.metadata.deleting != b.metadata.deleting) {
                             EnqueueAll(controller, pools);
                           } else {
                             controller.Enqueue({"", b.metadata.name});
                           }
                         },
                         [&](const PoolEntry&) { EnqueueAll(controller, pools); }});
  // Nodes: labels, readiness and allocatable matter; heartbeats are ignored.
  controller.AddSyncable(&nodes);
  nodes.AddEventHandler(
      {[&](const NodeEntry& n) {
         for (const auto& r : PoolsForNode(pools, n)) controller.Enqueue(r);
       },
       [&](const NodeEntry& a, const NodeEntry& b) {
         if (a.SameAs(b)) return;
         for (const auto& r : PoolsForNode(pools, a)) controller.Enqueue(r);
         for (const auto& r : PoolsForNode(pools, b)) controller.Enqueue(r);
       },
       [&](const NodeEntry& n) {
         for (const auto& r : PoolsForNode(pools, n)) controller.Enqueue(r);
       }});
  controller.Watch<api::DevicePoolNode>(informers.reports, [](const api::DevicePoolNode& r) {
    return std::vector<Request>{{"", r.spec.pool}};
  });
  auto owner = [](const ChildEntry& c) {
    const auto* ref = c.metadata.ControllerRef();
    if (ref == nullptr || ref->kind != api::kDevicePoolKind) return std::vector<Request>{};
    return std::vector<Request>{{"", ref->name}};
  };
  for (auto* inf : {&informers.daemon_sets, &informers.accounts, &informers.services, &informers.bindings}) {
    controller.Watch<ChildEntry>(*inf, owner);
  }
  auto enqueue_owner = [&](const ChildEntry& c) {
    for (const auto& r : owner(c)) controller.Enqueue(r);
  };
  for (auto* inf : {&service_monitors, &prometheus_rules, &informers.device_classes}) {
    inf->AddEventHandler({enqueue_owner, [&](const ChildEntry&, const ChildEntry& b) { enqueue_owner(b); },
                          enqueue_owner});
  }
  // A slice of <pool>.devicepool.hashfoundry.com concerns that pool (its
  // rollout gate and status); other drivers' slices concern none.
  auto enqueue_driver = [&](const ResourceSliceEntry& s) {
    if (std::string pool = api::PoolOfDraDriver(s.driver); !pool.empty()) controller.Enqueue({"", pool});
  };
  informers.resource_slices.AddEventHandler(
      {enqueue_driver,
       [&](const ResourceSliceEntry& a, const ResourceSliceEntry& b) {
         if (a.driver != b.driver || a.node != b.node || a.generation != b.generation || a.devices != b.devices) {
           enqueue_driver(b);
         }
       },
       enqueue_driver});
  // A claim holding devices of a pool's driver holds back that node's
  // switch away from DRA and a deleted pool's agents: its allocation and
  // its release concern the pool.
  auto enqueue_claim = [&](const ResourceClaimEntry& c) {
    std::set<std::string> pools;
    for (const auto& d : c.devices) {
      if (std::string pool = api::PoolOfDraDriver(d.driver); !pool.empty()) pools.insert(std::move(pool));
    }
    for (const auto& p : pools) controller.Enqueue({"", p});
  };
  informers.resource_claims.AddEventHandler({enqueue_claim,
                                             [&](const ResourceClaimEntry& a, const ResourceClaimEntry& b) {
                                               if (a.devices == b.devices) return;
                                               enqueue_claim(a);
                                               enqueue_claim(b);
                                             },
                                             enqueue_claim});
  controller.Watch<AgentPodEntry>(informers.agent_pods, [](const AgentPodEntry& p) {
    auto it = p.metadata.labels.find(std::string(api::kPoolLabel));
    if (it == p.metadata.labels.end()) return std::vector<Request>{};
    return std::vector<Request>{{"", it->second}};
  });
  auto monitoring_crd = [&](const NodeEntry& crd, bool deleted) {
    const std::string& n = crd.metadata.name;
    kube::OnDemandInformer<ChildEntry>* cache = n == "servicemonitors.monitoring.coreos.com"   ? &service_monitors
                                                : n == "prometheusrules.monitoring.coreos.com" ? &prometheus_rules
                                                                                               : nullptr;
    if (cache == nullptr) return;
    // Its watch would only fail from now on.
    if (deleted) cache->Stop();
    discovery.Invalidate();
    EnqueueAll(controller, pools);
    // Discovery serves a new CRD a moment after it is Established; look
    // again once it surely does.
    for (const auto& p : pools.List()) controller.EnqueueAfter({"", p->metadata.name}, std::chrono::seconds(5));
  };
  controller.AddSyncable(&informers.crds);
  informers.crds.AddEventHandler({[&](const NodeEntry& c) { monitoring_crd(c, false); },
                        [&](const NodeEntry&, const NodeEntry& b) { monitoring_crd(b, false); },
                        [&](const NodeEntry& c) { monitoring_crd(c, true); }});

  for (auto& [synced, run] : informers.Runnables()) mgr.AddCache(std::move(run), synced);
  mgr.AddLeaderRunnable("devicepool controller", [&controller](std::stop_token st) { controller.Start(st); });

  spdlog::info("devicepool-operator starting: namespace {}, identity {}, leader election {}", o.config.namespace_,
               o.identity, o.leader_elect ? "on" : "off");
  kube::Status st = mgr.Run(client, stop);
  // Their handlers enqueue into the controller, which goes first.
  service_monitors.Stop();
  prometheus_rules.Stop();
  informers.device_classes.Stop();
  informers.resource_slices.Stop();
  informers.resource_claims.Stop();
  events.Shutdown();
  return st;
}

}  // namespace hf::controller
