#include "operator/caches.h"

#include <algorithm>

#include "api/names.h"
#include "operator/desired.h"

namespace hf::controller {
namespace {

// Children are found by the managed-by label.
kube::ListWatchOptions Children(const std::string& ns) {
  return {.ns = ns, .label_selector = std::string(kManagedByLabel) + "=" + kManagedByValue};
}

}  // namespace

std::optional<PoolEntry> DecodePoolEntry(const nlohmann::json& obj) {
  PoolEntry e;
  e.metadata = kube::ObjectMeta::FromJson(obj, false);
  if (e.metadata.name.empty()) return std::nullopt;
  e.status = api::DecodeDevicePoolStatus(obj);
  auto pool = api::DecodeDevicePool(obj);
  if (pool.ok()) {
    e.pool = std::move(*pool);
  } else {
    e.invalid = pool.status().message();
  }
  return e;
}

std::optional<NodeEntry> DecodeNodeEntry(const nlohmann::json& obj) {
  NodeEntry e{kube::ObjectMeta::FromJson(obj, false)};
  if (e.metadata.name.empty()) return std::nullopt;
  const auto status = obj.find("status");
  if (status == obj.end() || !status->is_object()) return e;
  if (auto conds = status->find("conditions"); conds != status->end() && conds->is_array()) {
    for (const auto& c : *conds) {
      if (c.is_object() && c.value("type", "") == "Ready") e.ready = c.value("status", "");
    }
  }
  if (auto alloc = status->find("allocatable"); alloc != status->end() && alloc->is_object()) {
    for (const auto& [name, q] : alloc->items()) {
      if (name.find('/') != std::string::npos && q.is_string()) e.allocatable[name] = q.get<std::string>();
    }
  }
  return e;
}

std::optional<AgentPodEntry> DecodeAgentPodEntry(const nlohmann::json& obj) {
  AgentPodEntry e{kube::ObjectMeta::FromJson(obj, true)};
  if (e.metadata.name.empty()) return std::nullopt;
  if (auto it = e.metadata.annotations.find(kTemplateHashAnnotation); it != e.metadata.annotations.end()) {
    e.template_hash = it->second;
  }
  e.metadata.annotations.clear();
  const nlohmann::json empty = nlohmann::json::object();
  const auto& spec = obj.contains("spec") && obj["spec"].is_object() ? obj["spec"] : empty;
  e.node = spec.value("nodeName", "");
  const auto& status = obj.contains("status") && obj["status"].is_object() ? obj["status"] : empty;
  if (auto conds = status.find("conditions"); conds != status.end() && conds->is_array()) {
    for (const auto& c : *conds) {
      if (c.is_object() && c.value("type", "") == "Ready") e.ready = c.value("status", "") == "True";
    }
  }
  if (auto cs = status.find("containerStatuses"); cs != status.end() && cs->is_array()) {
    for (const auto& c : *cs) {
      if (!c.is_object() || c.value("name", "") != "agent") continue;
      if (c.contains("restartCount") && c["restartCount"].is_number_integer()) e.restarts = c["restartCount"].get<int>();
      if (c.contains("state") && c["state"].is_object() && c["state"].contains("waiting") &&
          c["state"]["waiting"].is_object()) {
        e.waiting_reason = c["state"]["waiting"].value("reason", "");
      }
      if (c.contains("lastState") && c["lastState"].is_object() && c["lastState"].contains("terminated") &&
          c["lastState"]["terminated"].is_object()) {
        const auto& t = c["lastState"]["terminated"];
        int code = t.contains("exitCode") && t["exitCode"].is_number_integer() ? t["exitCode"].get<int>() : 0;
        std::string reason = t.value("reason", "");
        std::string message = t.value("message", "");
        while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
        e.last_exit = "exit code " + std::to_string(code) + (reason.empty() ? "" : " (" + reason + ")") +
                      (message.empty() ? "" : ": " + message);
      }
    }
  }
  if (auto cs = spec.find("containers"); cs != spec.end() && cs->is_array()) {
    for (const auto& c : *cs) {
      if (!c.is_object() || c.value("name", "") != "agent" || !c.contains("args") || !c["args"].is_array()) continue;
      for (const auto& a : c["args"]) e.dra = e.dra || a == kDraAgentArg;
    }
  }
  return e;
}

std::optional<ResourceSliceEntry> DecodeResourceSliceEntry(nlohmann::json&& obj) {
  ResourceSliceEntry e;
  e.metadata = kube::ObjectMeta::FromJson(obj, false);
  if (e.metadata.name.empty()) return std::nullopt;
  const auto spec = obj.find("spec");
  if (spec == obj.end() || !spec->is_object()) return e;
  e.driver = spec->value("driver", "");
  e.node = spec->value("nodeName", "");
  if (auto pool = spec->find("pool"); pool != spec->end() && pool->is_object()) {
    e.pool = pool->value("name", "");
    if (auto g = pool->find("generation"); g != pool->end() && g->is_number_integer()) e.generation = g->get<int64_t>();
  }
  if (auto devices = spec->find("devices"); devices != spec->end() && devices->is_array()) {
    e.devices = static_cast<int>(devices->size());
    for (const auto& d : *devices) {
      if (!d.is_object()) continue;
      auto taints = d.find("taints");
      if (taints == d.end() || !taints->is_array()) continue;
      for (const auto& t : *taints) {
        if (!t.is_object()) continue;
        const std::string key = t.value("key", "");
        if (key == api::kUnhealthyTaintKey) e.unhealthy.push_back(d.value("name", ""));
        if (key == api::kDevicePluginAllocatedTaintKey) e.device_plugin_held.push_back(d.value("name", ""));
      }
    }
  }
  return e;
}

namespace {

// The slices of `driver` for `node` of each of its pools' newest generation;
// empty when there is none.
std::vector<kube::Store<ResourceSliceEntry>::Ptr> NewestSlices(const kube::SharedInformer<ResourceSliceEntry>& slices,
                                                               const std::string& driver, const std::string& node) {
  auto all = slices.store().ByIndex(kByDriverNodeIndex, driver + "/" + node);
  std::map<std::string, int64_t> newest;  // pool -> its newest generation
  for (const auto& s : all) {
    auto [it, added] = newest.try_emplace(s->pool, s->generation);
    it->second = std::max(it->second, s->generation);
  }
  std::erase_if(all, [&](const auto& s) { return s->generation != newest[s->pool]; });
  return all;
}

}  // namespace

std::optional<SliceDevices> PublishedOn(const kube::SharedInformer<ResourceSliceEntry>& slices,
                                        const std::string& driver, const std::string& node) {
  auto newest = NewestSlices(slices, driver, node);
  if (newest.empty()) return std::nullopt;
  SliceDevices out;
  for (const auto& s : newest) {
    out.total += s->devices;
    out.unhealthy.insert(s->unhealthy.begin(), s->unhealthy.end());
    out.device_plugin_held.insert(s->device_plugin_held.begin(), s->device_plugin_held.end());
  }
  return out;
}

std::optional<int64_t> PublishedDevices(const kube::SharedInformer<ResourceSliceEntry>& slices,
                                        const std::string& driver, const std::string& node) {
  auto published = PublishedOn(slices, driver, node);
  if (!published) return std::nullopt;
  return published->total;
}

std::optional<ResourceClaimEntry> DecodeResourceClaimEntry(nlohmann::json&& obj) {
  const kube::ObjectMeta meta = kube::ObjectMeta::FromJson(obj, false);
  if (meta.name.empty()) return std::nullopt;
  ResourceClaimEntry e;
  e.metadata.name = meta.name;
  e.metadata.namespace_ = meta.namespace_;
  e.metadata.uid = meta.uid;
  const nlohmann::json* results = nullptr;
  if (auto status = obj.find("status"); status != obj.end() && status->is_object()) {
    if (auto alloc = status->find("allocation"); alloc != status->end() && alloc->is_object()) {
      if (auto devices = alloc->find("devices"); devices != alloc->end() && devices->is_object()) {
        if (auto r = devices->find("results"); r != devices->end() && r->is_array()) results = &*r;
      }
    }
  }
  if (results == nullptr) return e;
  for (const auto& r : *results) {
    if (!r.is_object()) continue;
    e.devices.push_back({r.value("driver", ""), r.value("pool", ""), r.value("device", "")});
  }
  return e;
}

ClaimedDevices ClaimedOn(const kube::SharedInformer<ResourceClaimEntry>& claims, const std::string& driver,
                         const std::string& node) {
  ClaimedDevices out;
  for (const auto& c : claims.store().ByIndex(kByDriverNodeIndex, driver + "/" + node)) {
    out.claims.push_back(c->metadata.Key());
    for (const auto& d : c->devices) {
      if (d.driver == driver && d.pool == node) out.devices.insert(d.device);
    }
  }
  std::sort(out.claims.begin(), out.claims.end());
  return out;
}

std::optional<ChildEntry> DecodeChildEntry(nlohmann::json&& obj) {
  auto meta = kube::ObjectMeta::FromJson(obj);
  if (meta.name.empty()) return std::nullopt;
  ChildEntry e{std::move(meta), std::move(obj)};
  if (e.object.contains("metadata")) e.object["metadata"].erase("managedFields");  // from a GET
  return e;
}

std::optional<api::DevicePoolNode> DecodePoolNodeEntry(const nlohmann::json& obj) {
  auto n = api::DecodeDevicePoolNode(obj);
  if (!n.ok()) return std::nullopt;
  return std::move(*n);
}

namespace {

void AddIndexes(Caches& caches) {
  caches.nodes.AddIndex(kByPoolLabelIndex, [](const NodeEntry& n) {
    std::vector<std::string> keys;
    for (const auto& [k, v] : n.metadata.labels) {
      if (k.rfind(api::kNodeSelectionLabelPrefix, 0) == 0) keys.push_back(k);
    }
    return keys;
  });
  caches.pool_nodes.AddIndex(kByPoolIndex, [](const api::DevicePoolNode& n) {
    return std::vector<std::string>{n.spec.pool};
  });
  caches.agent_pods.AddIndex(kByPoolIndex, [](const AgentPodEntry& p) {
    auto it = p.metadata.labels.find(std::string(api::kPoolLabel));
    return it == p.metadata.labels.end() ? std::vector<std::string>{} : std::vector<std::string>{it->second};
  });
  if (caches.resource_slices != nullptr) {
    caches.resource_slices->AddIndex(kByDriverNodeIndex, [](const ResourceSliceEntry& s) {
      if (s.node.empty()) return std::vector<std::string>{};
      return std::vector<std::string>{s.driver + "/" + s.node};
    });
  }
  if (caches.resource_claims != nullptr) {
    caches.resource_claims->AddIndex(kByDriverNodeIndex, [](const ResourceClaimEntry& c) {
      std::set<std::string> keys;
      for (const auto& d : c.devices) keys.insert(d.driver + "/" + d.pool);
      return std::vector<std::string>(keys.begin(), keys.end());
    });
    caches.resource_claims->AddIndex(kByDriverIndex, [](const ResourceClaimEntry& c) {
      std::set<std::string> keys;
      for (const auto& d : c.devices) keys.insert(d.driver);
      return std::vector<std::string>(keys.begin(), keys.end());
    });
  }
}



}  // namespace

OperatorInformers::OperatorInformers(kube::Reader& reader, const std::string& ns, kube::Clock& clock)
    : pools(reader, api::DevicePools(), {}, DecodePoolEntry, clock),
      nodes(reader, kube::resources::Nodes(), {}, DecodeNodeEntry, clock),
      reports(reader, api::DevicePoolNodes(), {}, DecodePoolNodeEntry, clock),
      daemon_sets(reader, kube::resources::DaemonSets(), Children(ns), DecodeChildEntry, clock),
      accounts(reader, kube::resources::ServiceAccounts(), Children(ns), DecodeChildEntry, clock),
      services(reader, kube::resources::Services(), Children(ns), DecodeChildEntry, clock),
      bindings(reader, kube::resources::ClusterRoleBindings(), Children(""), DecodeChildEntry, clock),
      agent_pods(reader, kube::resources::Pods(), Children(ns), DecodeAgentPodEntry, clock),
      crds(reader, kube::resources::CustomResourceDefinitions(), {.metadata_only = true}, DecodeNodeEntry, clock),
      service_monitors(reader, ServiceMonitors(), Children(ns), DecodeChildEntry, clock),
      prometheus_rules(reader, PrometheusRules(), Children(ns), DecodeChildEntry, clock),
      device_classes(reader, DeviceClasses(), Children(""), DecodeChildEntry, clock),
      resource_slices(reader, ResourceSlices(), {}, DecodeResourceSliceEntry, clock),
      resource_claims(reader, ResourceClaims(), {}, DecodeResourceClaimEntry, clock) {
  Caches c = caches();
  AddIndexes(c);
}

Caches OperatorInformers::caches() {
  return {pools,           nodes,          reports,           daemon_sets,      accounts,
          services,        bindings,       agent_pods,        &service_monitors, &prometheus_rules,
          &device_classes, &resource_slices, &resource_claims};
}

std::vector<std::pair<const kube::Syncable*, std::function<void(std::stop_token)>>> OperatorInformers::Runnables() {
  std::vector<std::pair<const kube::Syncable*, std::function<void(std::stop_token)>>> out;
  auto add = [&out](auto& informer) { out.emplace_back(&informer, [&informer](std::stop_token st) { informer.Run(st); }); };
  add(pools);
  add(nodes);
  add(reports);
  add(daemon_sets);
  add(accounts);
  add(services);
  add(bindings);
  add(agent_pods);
  add(crds);
  return out;
}

}  // namespace hf::controller
