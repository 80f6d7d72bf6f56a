// The pure parts of preparing a DRA claim: what the scheduler allocated to
// this driver in a ResourceClaim, the CDI spec written for a prepared claim,
// and the checkpoint of prepared claims.
//
// A prepared claim gets its own CDI spec file, <cdi dir>/k8s.<driver>-claim_<uid>.json,
// of kind k8s.<driver>/claim, with one CDI device per allocated device, named
// <claim uid>-<DRA device name>; the kubelet hands the runtime the CDI ids
// k8s.<driver>/claim=<claim uid>-<device>. Each device's edits are its
// device nodes and file mounts (as in the device plugin's CDI spec) and
// HASHFOUNDRY_DEVICE_<i>_ID; the spec's own edits carry the env contract of
// the device plugin's Allocate (allocate_response.h) for the claim's
// devices: HASHFOUNDRY_DEVICE_IDS, _COUNT, _ID, _PATH and _<i>_PATH. A
// container with two claims of this driver gets two specs' values for the
// same names, and which wins is the runtime's choice: use one claim per
// container, with several devices in it.
//
// Thread-safety: pure functions.
#ifndef HF_AGENT_DRA_CLAIM_H_
#define HF_AGENT_DRA_CLAIM_H_

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "agent/device_set.h"
#include "kube/status.h"

namespace hf::agent {

// One device the scheduler allocated to the claim from this driver.
struct AllocatedDevice {
  std::vector<std::string> requests;  // the claim's request names it serves
  std::string pool;                   // the resource pool (our node's name)
  std::string device;                 // the DRA device name
  bool operator==(const AllocatedDevice&) const = default;
};

// The devices of `driver` in status.allocation.devices.results, in order,
// one entry per device (a device serving several requests lists them all).
// Invalid when the claim is not allocated or names none of the driver's
// devices.
kube::StatusOr<std::vector<AllocatedDevice>> AllocatedDevices(const nlohmann::json& claim, std::string_view driver);

struct PreparedDevice {
  AllocatedDevice allocated;
  std::string advertised_id;  // the device plugin's id of the same device
  std::vector<std::string> cdi_ids;
  bool operator==(const PreparedDevice&) const = default;
};

struct PreparedClaim {
  std::string uid;
  std::string ns;
  std::string name;
  std::vector<PreparedDevice> devices;
  bool operator==(const PreparedClaim&) const = default;
};

std::string ClaimCdiKind(std::string_view driver);
std::string ClaimCdiPath(std::string_view cdi_dir, std::string_view driver, std::string_view claim_uid);

// The CDI spec for a claim's devices, and sets each device's cdi_ids.
// `devices[i].advertised_id` must be in `set`.
nlohmann::json BuildClaimCdiSpec(const DeviceSet& set, std::string_view driver, std::string_view claim_uid,
                                 std::vector<PreparedDevice>& devices);

// The checkpoint file: {"version": 1, "claims": [...]}, keyed by claim uid
// when decoded. Decode fails (Invalid) on anything it does not understand,
// rather than forget a claim silently.
nlohmann::json EncodeCheckpoint(const std::map<std::string, PreparedClaim>& claims);
kube::StatusOr<std::map<std::string, PreparedClaim>> DecodeCheckpoint(const nlohmann::json& checkpoint);

}  // namespace hf::agent

#endif  // HF_AGENT_DRA_CLAIM_H_
