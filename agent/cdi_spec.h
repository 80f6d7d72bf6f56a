// The CDI (Container Device Interface) spec the agent writes when CDI is on:
// kind <resource name> (hashfoundry.com/custom-device), one CDI device per
// advertised id with that device's container edits: device nodes, and bind
// mounts for regular files. No env: a container with several devices would
// get each device's value for the same name, and which one wins is up to
// the runtime; the Allocate response's env (allocate_response.h) is the one
// source of HASHFOUNDRY_DEVICE_*. A device without nodes has no edits, and
// CDI refuses a device with empty edits, so it is left out (Allocate names
// no CDI device for it). Allocate answers with CDI names <kind>=<id> and the
// runtime applies the edits.
//
// The file is <cdi dir>/<resource name with '/' as '-'>.json, replaced
// atomically (written beside it, then renamed) so a runtime never reads
// half a spec.
//
// Thread-safety: pure functions, and one that writes a file.
#ifndef HF_AGENT_CDI_SPEC_H_
#define HF_AGENT_CDI_SPEC_H_

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "agent/device_set.h"
#include "kube/status.h"

namespace hf::agent {

// The CDI version whose features the spec uses (hostPath in device nodes,
// dots in the kind's name segment).
inline constexpr char kCdiVersion[] = "0.6.0";

// A device's container edits: deviceNodes for device nodes, read-write bind
// mounts for regular files; an empty object when it has no nodes.
nlohmann::json ContainerEditsOf(const Device& device);

nlohmann::json BuildCdiSpec(const DeviceSet& devices, std::string_view resource_name);

std::string CdiSpecPath(std::string_view cdi_dir, std::string_view resource_name);

// Writes `content` to `path` through a temporary file in the same
// directory and rename(2), creating the directory if needed.
kube::Status WriteFileAtomically(const std::string& path, const std::string& content);

}  // namespace hf::agent

#endif  // HF_AGENT_CDI_SPEC_H_
