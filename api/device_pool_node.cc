#include "api/device_pool_node.h"

#include <algorithm>
#include <climits>
#include <set>
#include <utility>

#include "api/json_field.h"
#include "api/names.h"

namespace hf::api {
namespace {

using internal::Field;

DevicePoolNodeSpec DecodeSpec(const Field& f) {
  DevicePoolNodeSpec s;
  if (!f.Require() || !f.IsObject()) return s;
  for (auto [key, out] : {std::pair{"pool", &s.pool}, std::pair{"node", &s.node}}) {
    Field field = f[key];
    if (!field.Require()) continue;
    std::optional<std::string> v = field.String();
    if (v && v->empty()) field.Invalid("must not be empty");
    if (v) *out = std::move(*v);
  }
  return s;
}

std::vector<Device> DecodeDevices(const Field& f) {
  std::vector<Device> devices;
  std::set<std::string> ids;
  for (const Field& item : f.Items()) {
    if (!item.IsObject()) continue;
    Device d;
    if (item["id"].Require()) d.id = item["id"].String().value_or("");
    if (item["health"].Require()) {
      d.health = item["health"]
                     .Enum<DeviceHealth>({{"Healthy", DeviceHealth::kHealthy}, {"Unhealthy", DeviceHealth::kUnhealthy}})
                     .value_or(DeviceHealth::kUnhealthy);
    }
    if (std::optional<int64_t> numa = item["numaNode"].Int(0, INT_MAX)) d.numa_node = static_cast<int>(*numa);
    d.path = item["path"].String().value_or("");
    // The list is a map keyed by id.
    if (!d.id.empty() && !ids.insert(d.id).second) item["id"].Invalid("duplicate device id \"" + d.id + "\"");
    devices.push_back(std::move(d));
  }
  return devices;
}

DevicePoolNodeStatus DecodeStatus(const Field& f) {
  DevicePoolNodeStatus s;
  if (!f.IsObject()) return s;
  s.devices = DecodeDevices(f["devices"]);
  s.counts = internal::DecodeDeviceCounts(f["counts"]);
  s.registered = f["registered"].Bool().value_or(false);
  s.agent_version = f["agentVersion"].String().value_or("");
  s.agent_revision = f["agentRevision"].String().value_or("");
  if (!IsAgentRevision(s.agent_revision)) {
    f["agentRevision"].Invalid("must be at most " + std::to_string(kMaxAgentRevision) +
                               " characters of A-Z, a-z, 0-9, '.', '_', '-'");
  }
  s.conditions = internal::DecodeConditions(f["conditions"]);
  return s;
}

nlohmann::json EncodeStatus(const DevicePoolNodeStatus& s) {
  std::vector<const Device*> sorted;
  for (const Device& d : s.devices) sorted.push_back(&d);
  std::stable_sort(sorted.begin(), sorted.end(), [](const Device* a, const Device* b) { return a->id < b->id; });
  nlohmann::json devices = nlohmann::json::array();
  for (const Device* d : sorted) {
    nlohmann::json j = {{"id", d->id}, {"health", DeviceHealthName(d->health)}};
    if (d->numa_node) j["numaNode"] = *d->numa_node;
    if (!d->path.empty()) j["path"] = d->path;
    devices.push_back(std::move(j));
  }
  nlohmann::json j = {
      {"devices", std::move(devices)},
      {"counts", internal::EncodeDeviceCounts(s.counts)},
      {"registered", s.registered},
  };
  if (!s.agent_version.empty()) j["agentVersion"] = s.agent_version;
  if (!s.agent_revision.empty()) j["agentRevision"] = s.agent_revision;
  if (!s.conditions.empty()) j["conditions"] = EncodeConditions(s.conditions);
  return j;
}

}  // namespace

std::string_view DeviceHealthName(DeviceHealth health) {
  return health == DeviceHealth::kHealthy ? "Healthy" : "Unhealthy";
}

std::string DevicePoolNodeName(std::string_view pool, std::string_view node) {
  return std::string(pool) + "." + std::string(node);
}

bool IsAgentRevision(std::string_view revision) {
  return revision.size() <= kMaxAgentRevision && std::all_of(revision.begin(), revision.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == '-';
         });
}

kube::StatusOr<DevicePoolNode> DecodeDevicePoolNode(const nlohmann::json& obj) {
  internal::Errors errors;
  Field root(obj, &errors);
  DevicePoolNode dpn;
  if (!root.IsObject()) return errors.ToStatus("DevicePoolNode");
  dpn.metadata = internal::DecodeObjectHeader(root, kDevicePoolNodeKind);
  dpn.spec = DecodeSpec(root["spec"]);
  dpn.status = DecodeStatus(root["status"]);
  if (!dpn.metadata.name.empty() && errors.ok() &&
      dpn.metadata.name != DevicePoolNodeName(dpn.spec.pool, dpn.spec.node)) {
    root["metadata"]["name"].Invalid("must be <spec.pool>.<spec.node>");
  }
  if (!errors.ok()) {
    return errors.ToStatus(dpn.metadata.name.empty() ? "DevicePoolNode" : "DevicePoolNode " + dpn.metadata.name);
  }
  return dpn;
}

nlohmann::json EncodeDevicePoolNode(const DevicePoolNode& dpn) {
  nlohmann::json labels = dpn.metadata.labels;
  labels[std::string(kPoolLabel)] = dpn.spec.pool;
  labels[std::string(kNodeNameLabel)] = dpn.spec.node;
  nlohmann::json metadata = {{"name", DevicePoolNodeName(dpn.spec.pool, dpn.spec.node)}, {"labels", labels}};
  if (!dpn.metadata.owner_references.empty()) {
    nlohmann::json& refs = metadata["ownerReferences"] = nlohmann::json::array();
    for (const kube::OwnerReference& ref : dpn.metadata.owner_references) refs.push_back(ref.ToJson());
  }
  return {
      {"apiVersion", kApiVersion},
      {"kind", kDevicePoolNodeKind},
      {"metadata", std::move(metadata)},
      {"spec", {{"pool", dpn.spec.pool}, {"node", dpn.spec.node}}},
      {"status", EncodeStatus(dpn.status)},
  };
}

}  // namespace hf::api
