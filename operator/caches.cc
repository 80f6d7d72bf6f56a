#include "operator/caches.h"

#include "api/names.h"

namespace hf::controller {

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
  return e;
}

std::optional<ChildEntry> DecodeChildEntry(const nlohmann::json& obj) {
  ChildEntry e{kube::ObjectMeta::FromJson(obj), obj};
  if (e.metadata.name.empty()) return std::nullopt;
  if (e.object.contains("metadata")) e.object["metadata"].erase("managedFields");
  return e;
}

std::optional<api::DevicePoolNode> DecodePoolNodeEntry(const nlohmann::json& obj) {
  auto n = api::DecodeDevicePoolNode(obj);
  if (!n.ok()) return std::nullopt;
  return std::move(*n);
}

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
  auto by_owner = [](const ChildEntry& c) {
    const auto* ref = c.metadata.ControllerRef();
    if (ref == nullptr || ref->kind != api::kDevicePoolKind) return std::vector<std::string>{};
    return std::vector<std::string>{ref->name};
  };
  for (auto* inf : {&caches.daemon_sets, &caches.service_accounts, &caches.services, &caches.bindings}) {
    inf->AddIndex(kByOwnerIndex, by_owner);
  }
}

}  // namespace hf::controller
