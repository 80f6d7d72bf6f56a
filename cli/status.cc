#include "cli/status.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "api/names.h"
#include "cli/table.h"
#include "kube/rest/resource.h"
#include "operator/desired.h"

namespace hf::cli {
namespace {

using Json = nlohmann::json;

// A pool as far as it decodes: a spec the codec refuses still has a name, a
// resource and a status worth showing.
api::DevicePool DecodeLeniently(const Json& obj) {
  auto decoded = api::DecodeDevicePool(obj);
  if (decoded.ok()) return *decoded;
  api::DevicePool p;
  p.metadata.name = obj.value("/metadata/name"_json_pointer, std::string());
  p.metadata.generation = obj.value("/metadata/generation"_json_pointer, int64_t{0});
  p.spec.resource_name = obj.value("/spec/resourceName"_json_pointer, std::string());
  p.status = api::DecodeDevicePoolStatus(obj);
  return p;
}

std::optional<int64_t> Quantity(const Json& node, const char* field, const std::string& resource) {
  const Json* list = nullptr;
  if (node.contains("status") && node["status"].contains(field)) list = &node["status"][field];
  if (list == nullptr || !list->contains(resource) || !(*list)[resource].is_string()) return std::nullopt;
  return controller::DeviceCount((*list)[resource].get_ref<const std::string&>());
}

std::string OrDash(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "-"; }

constexpr const char* kGreen = "32";
constexpr const char* kRed = "31";
constexpr const char* kYellow = "33";

}  // namespace

NodeFacts NodeFactsOf(const Json& node, const std::string& resource) {
  NodeFacts f;
  f.found = true;
  if (node.contains("status") && node["status"].contains("conditions")) {
    for (const auto& c : node["status"]["conditions"]) {
      if (c.value("type", "") == "Ready") f.ready = c.value("status", "") == "True";
    }
  }
  f.capacity = Quantity(node, "capacity", resource);
  f.allocatable = Quantity(node, "allocatable", resource);
  return f;
}

PoolView MakeView(Json pool, std::vector<Json> reports, const std::vector<Json>& nodes) {
  PoolView v;
  v.pool = DecodeLeniently(pool);
  v.pool_json = std::move(pool);
  std::vector<std::pair<api::DevicePoolNode, Json>> decoded;
  for (auto& r : reports) {
    auto d = api::DecodeDevicePoolNode(r);
    if (d.ok()) decoded.emplace_back(std::move(*d), std::move(r));  // what the CRD admits decodes
  }
  std::sort(decoded.begin(), decoded.end(),
            [](const auto& a, const auto& b) { return a.first.spec.node < b.first.spec.node; });
  for (auto& [d, j] : decoded) {
    v.reports.push_back(std::move(d));
    v.report_json.push_back(std::move(j));
  }
  for (const auto& n : nodes) {
    v.nodes[n.value("/metadata/name"_json_pointer, std::string())] = NodeFactsOf(n, v.pool.spec.resource_name);
  }
  for (const auto& r : v.reports) v.nodes.try_emplace(r.spec.node);  // reported, but no such Node
  return v;
}

kube::StatusOr<std::vector<PoolView>> GatherPools(kube::Client& client, const std::string& pool) {
  std::vector<Json> pools;
  if (!pool.empty()) {
    auto p = client.Get(api::DevicePools(), "", pool);
    if (!p.ok()) return p.status();
    pools.push_back(std::move(*p));
  } else {
    auto l = client.List(api::DevicePools(), "", {});
    if (!l.ok()) return l.status();
    pools = std::move(l->items);
  }
  std::vector<PoolView> out;
  for (auto& obj : pools) {
    const std::string name = obj.value("/metadata/name"_json_pointer, std::string());
    kube::ListOptions by_pool;
    by_pool.label_selector = std::string(api::kPoolLabel) + "=" + name;
    auto reports = client.List(api::DevicePoolNodes(), "", by_pool);
    if (!reports.ok()) return reports.status();
    kube::ListOptions labelled;
    labelled.label_selector = api::NodeSelectionLabel(name);
    auto nodes = client.List(kube::resources::Nodes(), "", labelled);
    if (!nodes.ok()) return nodes.status();
    std::set<std::string> have;
    for (const auto& n : nodes->items) have.insert(n.value("/metadata/name"_json_pointer, std::string()));
    for (const auto& r : reports->items) {
      std::string node = r.value("/spec/node"_json_pointer, std::string());
      if (node.empty() || have.count(node)) continue;
      auto n = client.Get(kube::resources::Nodes(), "", node);
      if (n.ok()) {
        nodes->items.push_back(std::move(*n));
        have.insert(node);
      } else if (!kube::IsNotFound(n.status())) {
        return n.status();
      }
    }
    out.push_back(MakeView(std::move(obj), std::move(reports->items), nodes->items));
  }
  return out;
}

std::string RenderStatus(const PoolView& view, bool color) {
  const auto& p = view.pool;
  const auto& s = p.status;
  std::ostringstream out;
  out << Paint(color, "1", "Pool " + p.metadata.name) << "   resource " << p.spec.resource_name << "   generation "
      << p.metadata.generation << " (observed " << s.observed_generation << ")\n";

  Table conditions({"CONDITION", "STATUS", "REASON", "MESSAGE"});
  for (const auto& c : s.conditions) {
    // Good is True for Ready and MonitoringAvailable, False for the others.
    bool positive = c.type == api::kConditionReady || c.type == api::kConditionMonitoringAvailable;
    bool good = (c.status == api::ConditionStatus::kTrue) == positive;
    const char* colour = c.status == api::ConditionStatus::kUnknown ? kYellow : good ? kGreen : kRed;
    conditions.Add({c.type, std::string(api::ConditionStatusName(c.status)), c.reason, c.message},
                   {nullptr, colour});
  }
  out << conditions.Render(color, "  ");

  out << "Nodes: " << s.nodes.selected << " selected, " << s.nodes.labelled << " labelled, " << s.nodes.registered
      << " registered, " << s.nodes.ready << " ready.  Devices: " << s.devices.total << " total, "
      << s.devices.healthy << " healthy, " << s.devices.allocated << " allocated.\n";

  const auto& r = s.rollout;
  out << "Rollout (" << api::RolloutStrategyName(p.spec.rollout.strategy) << (p.spec.rollout.paused ? ", paused" : "")
      << "): " << api::RolloutPhaseName(r.phase);
  if (!r.update_revision.empty() && r.update_revision != r.current_revision) {
    out << ", " << r.current_revision << " -> " << r.update_revision << ", " << r.updated_nodes << "/"
        << r.total_nodes << " nodes";
  } else if (!r.current_revision.empty()) {
    out << ", revision " << r.current_revision;
  }
  if (!r.message.empty()) out << ". " << r.message;
  out << "\n";
  for (const auto& f : r.failed) {
    out << "  " << Paint(color, kRed, "failed") << " " << f.node << ": gate " << f.gate << ": " << f.message << "\n";
  }

  Table nodes({"NODE", "READY", "AGENT", "REVISION", "REGISTERED", "CAPACITY", "ALLOCATABLE", "REPORTED",
               "HEALTHY", "ALLOCATED"});
  std::map<std::string, const api::DevicePoolNode*> by_node;
  for (const auto& rep : view.reports) by_node[rep.spec.node] = &rep;
  std::vector<std::string> names;
  for (const auto& [n, f] : view.nodes) names.push_back(n);
  for (const auto& rep : view.reports) {
    if (!view.nodes.count(rep.spec.node)) names.push_back(rep.spec.node);
  }
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    auto fit = view.nodes.find(n);
    NodeFacts f = fit == view.nodes.end() ? NodeFacts{} : fit->second;
    auto rit = by_node.find(n);
    const api::DevicePoolNode* rep = rit == by_node.end() ? nullptr : rit->second;
    std::string ready = !f.found ? "gone" : f.ready ? "yes" : "no";
    if (rep == nullptr) {
      nodes.Add({n, ready, "-", "-", "-", OrDash(f.capacity), OrDash(f.allocatable), "no report", "-", "-"},
                {nullptr, f.ready ? kGreen : kRed, nullptr, nullptr, nullptr, nullptr, nullptr, kRed});
      continue;
    }
    const auto& st = rep->status;
    // The kubelet's allocatable below what the agent reports healthy: a
    // registration the kubelet does not honour.
    bool short_alloc = f.allocatable && *f.allocatable < st.counts.healthy;
    nodes.Add({n, ready, st.agent_version.empty() ? "-" : st.agent_version,
               st.agent_revision.empty() ? "-" : st.agent_revision, st.registered ? "yes" : "no", OrDash(f.capacity),
               OrDash(f.allocatable), std::to_string(st.counts.total), std::to_string(st.counts.healthy),
               std::to_string(st.counts.allocated)},
              {nullptr, f.ready ? kGreen : kRed, nullptr, nullptr, st.registered ? kGreen : kRed, nullptr,
               short_alloc ? kRed : nullptr, nullptr, st.counts.healthy < st.counts.total ? kRed : nullptr});
  }
  out << nodes.Render(color, "  ");

  for (const auto& rep : view.reports) {
    if (rep.status.devices.empty()) continue;
    Table devices({"DEVICE", "HEALTH", "NUMA", "PATH"});
    for (const auto& d : rep.status.devices) {
      bool healthy = d.health == api::DeviceHealth::kHealthy;
      devices.Add({d.id, std::string(api::DeviceHealthName(d.health)),
                   d.numa_node ? std::to_string(*d.numa_node) : "-", d.path.empty() ? "-" : d.path},
                  {nullptr, healthy ? kGreen : kRed});
    }
    out << "  " << rep.spec.node << ":\n" << devices.Render(color, "    ");
  }

  if (!s.problem_nodes.empty()) {
    Table problems({"PROBLEM NODE", "REASON", "MESSAGE"});
    for (const auto& pn : s.problem_nodes) problems.Add({pn.node, pn.reason, pn.message}, {nullptr, kRed});
    out << problems.Render(color, "  ");
  }
  return out.str();
}

Json StatusJson(const PoolView& view) {
  Json nodes = Json::object();
  for (const auto& [name, f] : view.nodes) {
    Json n = {{"found", f.found}, {"ready", f.ready}};
    n["capacity"] = f.capacity ? Json(*f.capacity) : Json(nullptr);
    n["allocatable"] = f.allocatable ? Json(*f.allocatable) : Json(nullptr);
    nodes[name] = std::move(n);
  }
  return {{"pool", view.pool_json}, {"reports", view.report_json}, {"nodes", std::move(nodes)}};
}

}  // namespace hf::cli
