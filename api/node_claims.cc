#include "api/node_claims.h"

#include <tuple>

#include "api/names.h"

namespace hf::api {

NodeClaims ClaimNodes(const DevicePool& pool, const std::vector<const DevicePool*>& pools,
                      const std::vector<NodeLabels>& nodes) {
  std::vector<const DevicePool*> rivals;
  for (const DevicePool* other : pools) {
    if (other->metadata.name == pool.metadata.name || other->metadata.deleting) continue;
    if (other->spec.resource_name == pool.spec.resource_name) rivals.push_back(other);
  }
  NodeClaims c;
  for (const NodeLabels& node : nodes) {
    if (!pool.spec.node_selector.Matches(node.labels)) continue;
    ++c.selected;
    auto rank = [&](const kube::ObjectMeta& m) {
      const bool holds = node.labels.count(NodeSelectionLabel(m.name)) > 0;
      return std::make_tuple(m.creation_timestamp, holds ? 0 : 1, m.name);
    };
    const auto mine = rank(pool.metadata);
    const DevicePool* winner = nullptr;
    for (const DevicePool* r : rivals) {
      if (!r->spec.node_selector.Matches(node.labels) || rank(r->metadata) > mine) continue;
      if (winner == nullptr || rank(r->metadata) < rank(winner->metadata)) winner = r;
    }
    if (winner != nullptr) {
      c.conflicts[node.name] = winner->metadata.name;
    } else {
      c.wanted.insert(node.name);
    }
  }
  return c;
}

std::string ExtendedResourceKeeper(const DevicePool& pool, const std::vector<const DevicePool*>& pools) {
  auto rank = [](const kube::ObjectMeta& m) { return std::tie(m.creation_timestamp, m.name); };
  const DevicePool* keeper = nullptr;
  for (const DevicePool* other : pools) {
    if (other->metadata.name == pool.metadata.name || other->metadata.deleting) continue;
    if (other->spec.allocation_api != AllocationApi::kDra || other->spec.resource_name != pool.spec.resource_name) {
      continue;
    }
    if (rank(other->metadata) > rank(pool.metadata)) continue;
    if (keeper == nullptr || rank(other->metadata) < rank(keeper->metadata)) keeper = other;
  }
  return keeper == nullptr ? "" : keeper->metadata.name;
}

}  // namespace hf::api
