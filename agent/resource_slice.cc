#include "agent/resource_slice.h"

#include <algorithm>
#include <cstdio>

#include "api/names.h"

namespace hf::agent {
namespace {

bool IsDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

// FNV-1a, 32 bits: stable across runs and builds, which std::hash is not.
uint32_t Fnv1a(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

nlohmann::json Attributes(const DeviceSet& devices, const DeviceSet::Advertised& adv, size_t replica) {
  const Device& d = devices.devices()[adv.device];
  nlohmann::json attrs = {{"id", {{"string", d.id}}}};
  if (devices.replicas() > 1) attrs["replica"] = {{"int", replica}};
  if (d.numa_node) attrs["numaNode"] = {{"int", *d.numa_node}};
  if (!d.nodes.empty()) attrs["path"] = {{"string", d.nodes.front().host_path}};
  return attrs;
}

}  // namespace

kube::GroupVersionResource ResourceSlices() { return {"resource.k8s.io", "v1", "resourceslices", false}; }
kube::GroupVersionResource ResourceClaims() { return {"resource.k8s.io", "v1", "resourceclaims", true}; }

std::string DraDeviceName(std::string_view advertised_id) {
  if (IsDnsLabel(advertised_id)) return std::string(advertised_id);
  std::string name;
  for (char c : advertised_id) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (ok || (!name.empty() && name.back() != '-')) name.push_back(ok ? c : '-');
  }
  char suffix[10];
  std::snprintf(suffix, sizeof suffix, "%08x", Fnv1a(advertised_id));
  const size_t keep = 63 - 9;  // '-' and 8 hex digits
  if (name.size() > keep) name.resize(keep);
  while (!name.empty() && name.back() == '-') name.pop_back();
  if (!name.empty()) name.push_back('-');
  return name + suffix;
}

size_t SliceCount(const DeviceSet& devices) {
  size_t n = devices.advertised().size();
  return std::max<size_t>(1, (n + kMaxDevicesPerSlice - 1) / kMaxDevicesPerSlice);
}

std::string ResourceSliceName(const SliceIdentity& id, size_t index) {
  std::string name = id.pool + "." + id.node;
  if (index > 0) name += "." + std::to_string(index);
  return name;
}

std::vector<nlohmann::json> BuildResourceSlices(const DeviceSet& devices, const SliceIdentity& id,
                                                int64_t generation, const std::set<std::string>& held) {
  const size_t count = SliceCount(devices);
  std::vector<nlohmann::json> slices;
  slices.reserve(count);
  const auto& advertised = devices.advertised();
  // Replicas of a device are listed together, so the n-th of a run is its replica.
  size_t replica = 0;
  for (size_t s = 0; s < count; ++s) {
    nlohmann::json list = nlohmann::json::array();
    for (size_t i = s * kMaxDevicesPerSlice; i < std::min(advertised.size(), (s + 1) * kMaxDevicesPerSlice); ++i) {
      replica = (i > 0 && advertised[i - 1].device == advertised[i].device) ? replica + 1 : 0;
      nlohmann::json dev = {{"name", DraDeviceName(advertised[i].id)},
                            {"attributes", Attributes(devices, advertised[i], replica)}};
      nlohmann::json taints = nlohmann::json::array();
      if (!devices.devices()[advertised[i].device].healthy) {
        taints.push_back({{"key", kUnhealthyTaintKey}, {"effect", "NoSchedule"}});
      }
      if (held.contains(advertised[i].id)) {
        taints.push_back({{"key", kDevicePluginAllocatedTaintKey}, {"effect", "NoSchedule"}});
      }
      if (!taints.empty()) dev["taints"] = std::move(taints);
      list.push_back(std::move(dev));
    }
    slices.push_back({
        {"apiVersion", "resource.k8s.io/v1"},
        {"kind", "ResourceSlice"},
        {"metadata",
         {{"name", ResourceSliceName(id, s)},
          {"labels", {{std::string(api::kPoolLabel), id.pool}, {std::string(api::kNodeNameLabel), id.node}}}}},
        {"spec",
         {{"driver", id.driver},
          {"nodeName", id.node},
          {"pool", {{"name", id.node}, {"generation", generation}, {"resourceSliceCount", count}}},
          {"devices", std::move(list)}}},
    });
  }
  return slices;
}

namespace {

nlohmann::json Projection(const nlohmann::json& slice) {
  const nlohmann::json none = nlohmann::json::object();
  const nlohmann::json& spec = slice.contains("spec") && slice["spec"].is_object() ? slice["spec"] : none;
  const nlohmann::json& meta = slice.contains("metadata") && slice["metadata"].is_object() ? slice["metadata"] : none;
  nlohmann::json labels = nlohmann::json::object();
  if (meta.contains("labels") && meta["labels"].is_object()) {
    for (const char* key : {api::kPoolLabel.data(), api::kNodeNameLabel.data()}) {
      if (meta["labels"].contains(key)) labels[key] = meta["labels"][key];
    }
  }
  nlohmann::json pool = spec.value("pool", nlohmann::json::object());
  if (pool.is_object()) pool.erase("generation");
  nlohmann::json devices = nlohmann::json::array();
  if (spec.contains("devices") && spec["devices"].is_array()) {
    for (const nlohmann::json& d : spec["devices"]) {
      if (!d.is_object()) continue;
      nlohmann::json taints = nlohmann::json::array();
      if (d.contains("taints") && d["taints"].is_array()) {
        for (const nlohmann::json& t : d["taints"]) {
          if (t.is_object()) taints.push_back({t.value("key", ""), t.value("value", ""), t.value("effect", "")});
        }
      }
      devices.push_back({d.value("name", ""), d.value("attributes", nlohmann::json::object()), taints});
    }
  }
  return {labels, spec.value("driver", ""), spec.value("nodeName", ""), pool, devices};
}

}  // namespace

bool SameSlice(const nlohmann::json& desired, const nlohmann::json& server) {
  return Projection(desired) == Projection(server);
}

const DeviceSet::Advertised* FindByDraName(const DeviceSet& devices, std::string_view name) {
  for (const DeviceSet::Advertised& adv : devices.advertised()) {
    if (DraDeviceName(adv.id) == name) return &adv;
  }
  return nullptr;
}

}  // namespace hf::agent
