// What `kubectl devicepool status` shows of one pool: its conditions, its
// rollout, then node by node the agent's report beside what the Node itself
// says (capacity and allocatable of the pool's resource), and each device.
//
// Gathering (from the API) and rendering (pure, golden-tested) are apart.
#ifndef HF_CLI_STATUS_H_
#define HF_CLI_STATUS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/device_pool.h"
#include "api/device_pool_node.h"
#include "kube/rest/client.h"

namespace hf::cli {

// The Node's own figures for the pool's resource; absent when the Node is
// gone or does not list the resource.
struct NodeFacts {
  bool found = false;
  bool ready = false;
  std::optional<int64_t> capacity, allocatable;
};

// The Node's Ready condition and its figures of `resource`, from the Node
// as read.
NodeFacts NodeFactsOf(const nlohmann::json& node, const std::string& resource);

struct PoolView {
  api::DevicePool pool;
  nlohmann::json pool_json;                   // as read, for -o json|yaml
  std::vector<api::DevicePoolNode> reports;   // sorted by node
  std::vector<nlohmann::json> report_json;
  std::map<std::string, NodeFacts> nodes;     // by node name, for every report and labelled node
};

// The view of `pool` from its reports (any order; those that do not decode
// are left out) and the Nodes the pool labels or reports on. A reported node
// with no Node object shows as gone.
PoolView MakeView(nlohmann::json pool, std::vector<nlohmann::json> reports, const std::vector<nlohmann::json>& nodes);

// Reads one pool (or, with pool empty, every pool), its reports and the
// Nodes it labels or reports on.
kube::StatusOr<std::vector<PoolView>> GatherPools(kube::Client& client, const std::string& pool);

// One screen per pool. `color`: ANSI colours for health and condition
// status (only on a terminal).
std::string RenderStatus(const PoolView& view, bool color);

// {"pool": ..., "reports": [...], "nodes": {name: {ready, capacity, allocatable}}}
nlohmann::json StatusJson(const PoolView& view);

}  // namespace hf::cli

#endif  // HF_CLI_STATUS_H_
