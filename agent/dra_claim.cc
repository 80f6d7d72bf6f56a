#include "agent/dra_claim.h"

#include "agent/cdi_spec.h"

namespace hf::agent {
namespace {

using nlohmann::json;

std::string ClaimKey(const json& claim) {
  const json& meta = claim.value("metadata", json::object());
  return meta.value("namespace", "") + "/" + meta.value("name", "");
}

std::vector<std::string> Strings(const json& j) {
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const json& s : j) {
    if (s.is_string()) out.push_back(s.get<std::string>());
  }
  return out;
}

}  // namespace

kube::StatusOr<std::vector<AllocatedDevice>> AllocatedDevices(const json& claim, std::string_view driver) {
  const json* results = nullptr;
  if (claim.contains("status") && claim["status"].is_object()) {
    const json& status = claim["status"];
    if (status.contains("allocation") && status["allocation"].is_object()) {
      const json& alloc = status["allocation"];
      if (alloc.contains("devices") && alloc["devices"].is_object() && alloc["devices"].contains("results")) {
        results = &alloc["devices"]["results"];
      }
    }
  }
  if (results == nullptr || !results->is_array()) {
    return kube::Status(kube::Reason::kInvalid, "ResourceClaim " + ClaimKey(claim) + " is not allocated");
  }
  std::vector<AllocatedDevice> out;
  for (const json& r : *results) {
    if (!r.is_object() || r.value("driver", "") != driver) continue;
    // A subrequest of a prioritized list ("req/sub") serves its request:
    // the kubelet hands a container the CDI ids of devices whose request
    // names hold the container's request, which is the base name.
    std::string request = r.value("request", "");
    request = request.substr(0, request.find('/'));
    std::string pool = r.value("pool", "");
    std::string device = r.value("device", "");
    if (device.empty()) {
      return kube::Status(kube::Reason::kInvalid,
                          "ResourceClaim " + ClaimKey(claim) + " has an allocation result without a device");
    }
    bool merged = false;
    for (AllocatedDevice& d : out) {
      if (d.pool == pool && d.device == device) {
        d.requests.push_back(request);
        merged = true;
      }
    }
    if (!merged) out.push_back({{request}, pool, device});
  }
  if (out.empty()) {
    return kube::Status(kube::Reason::kInvalid, "ResourceClaim " + ClaimKey(claim) + " has no device of driver " +
                                                    std::string(driver) + " allocated");
  }
  return out;
}

std::string ClaimCdiKind(std::string_view driver) { return "k8s." + std::string(driver) + "/claim"; }

std::string ClaimCdiPath(std::string_view cdi_dir, std::string_view driver, std::string_view claim_uid) {
  return std::string(cdi_dir) + "/k8s." + std::string(driver) + "-claim_" + std::string(claim_uid) + ".json";
}

json BuildClaimCdiSpec(const DeviceSet& set, std::string_view driver, std::string_view claim_uid,
                       std::vector<PreparedDevice>& devices) {
  const std::string kind = ClaimCdiKind(driver);
  json cdi_devices = json::array();
  json env = json::array();
  std::string ids;
  for (size_t i = 0; i < devices.size(); ++i) {
    PreparedDevice& p = devices[i];
    const Device& d = *set.Find(p.advertised_id);
    const std::string name = std::string(claim_uid) + "-" + p.allocated.device;
    json edits = ContainerEditsOf(d);
    edits["env"] = json::array({"HASHFOUNDRY_DEVICE_" + std::to_string(i) + "_ID=" + p.advertised_id});
    cdi_devices.push_back({{"name", name}, {"containerEdits", std::move(edits)}});
    p.cdi_ids = {kind + "=" + name};
    ids += (i == 0 ? "" : ",") + p.advertised_id;
    if (!d.nodes.empty()) {
      env.push_back("HASHFOUNDRY_DEVICE_" + std::to_string(i) + "_PATH=" + d.nodes.front().container_path);
    }
  }
  env.push_back("HASHFOUNDRY_DEVICE_IDS=" + ids);
  env.push_back("HASHFOUNDRY_DEVICE_COUNT=" + std::to_string(devices.size()));
  if (!devices.empty()) {
    env.push_back("HASHFOUNDRY_DEVICE_ID=" + devices.front().advertised_id);
    const Device& first = *set.Find(devices.front().advertised_id);
    if (!first.nodes.empty()) env.push_back("HASHFOUNDRY_DEVICE_PATH=" + first.nodes.front().container_path);
  }
  return {{"cdiVersion", kCdiVersion},
          {"kind", kind},
          {"devices", std::move(cdi_devices)},
          {"containerEdits", {{"env", std::move(env)}}}};
}

json EncodeCheckpoint(const std::map<std::string, PreparedClaim>& claims) {
  json list = json::array();
  for (const auto& [uid, c] : claims) {
    json devices = json::array();
    for (const PreparedDevice& d : c.devices) {
      devices.push_back({{"requests", d.allocated.requests},
                         {"pool", d.allocated.pool},
                         {"device", d.allocated.device},
                         {"advertisedID", d.advertised_id},
                         {"cdiIDs", d.cdi_ids}});
    }
    list.push_back({{"uid", uid}, {"namespace", c.ns}, {"name", c.name}, {"devices", std::move(devices)}});
  }
  return {{"version", 1}, {"claims", std::move(list)}};
}

kube::StatusOr<std::map<std::string, PreparedClaim>> DecodeCheckpoint(const json& checkpoint) {
  auto bad = [](const std::string& why) { return kube::Status(kube::Reason::kInvalid, "checkpoint: " + why); };
  if (!checkpoint.is_object() || checkpoint.value("version", json()) != json(1)) return bad("not version 1");
  if (!checkpoint.contains("claims") || !checkpoint["claims"].is_array()) return bad("no claims list");
  std::map<std::string, PreparedClaim> out;
  for (const json& c : checkpoint["claims"]) {
    if (!c.is_object() || !c.contains("uid") || !c["uid"].is_string() || c["uid"].get<std::string>().empty()) {
      return bad("a claim without uid");
    }
    PreparedClaim claim{c["uid"].get<std::string>(), c.value("namespace", ""), c.value("name", ""), {}};
    if (!c.contains("devices") || !c["devices"].is_array()) return bad("claim " + claim.uid + " has no devices");
    for (const json& d : c["devices"]) {
      if (!d.is_object() || !d.contains("device") || !d["device"].is_string() || !d.contains("advertisedID") ||
          !d["advertisedID"].is_string()) {
        return bad("claim " + claim.uid + " has a malformed device");
      }
      claim.devices.push_back({{Strings(d.value("requests", json())), d.value("pool", ""), d["device"].get<std::string>()},
                               d["advertisedID"].get<std::string>(),
                               Strings(d.value("cdiIDs", json()))});
    }
    std::string uid = claim.uid;
    out.emplace(std::move(uid), std::move(claim));
  }
  return out;
}

}  // namespace hf::agent
