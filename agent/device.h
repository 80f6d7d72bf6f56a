// Device: one physical device the agent found, as a Scanner reports it: its
// id, health, NUMA node and the filesystem nodes a container needs to use it.
// Also NaturalLess, the order devices are listed and preferred in
// ("dev-2" before "dev-10"), so every list the agent produces is stable.
//
// Thread-safety: plain values and pure functions.
#ifndef HF_AGENT_DEVICE_H_
#define HF_AGENT_DEVICE_H_

#include <sys/stat.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hf::agent {

// How a container gets a node: device nodes through the runtime's device
// list (cgroup rules and mknod), anything else through a bind mount, since a
// runtime cannot mknod a regular file.
enum class NodeKind { kCharDevice, kBlockDevice, kFile };

struct DeviceNode {
  std::string host_path;       // as the agent sees it, which is the host's path
  std::string container_path;  // where the container sees it
  NodeKind kind = NodeKind::kFile;
  bool operator==(const DeviceNode&) const = default;
};

struct Device {
  std::string id;
  bool healthy = true;
  std::optional<int> numa_node;  // absent: unknown or not NUMA-attached
  // The device's own node first, then companions (e.g. /dev/vfio/vfio). May
  // be empty: a PCI function without VFIO is passed by id only.
  std::vector<DeviceNode> nodes;
  bool operator==(const Device&) const = default;
};

// Orders digit runs by value, everything else bytewise.
bool NaturalLess(std::string_view a, std::string_view b);

// The NodeKind of what stat() returned.
NodeKind KindOf(const struct stat& st);

// The container path for a host path: under `dev_root` it moves to /dev
// (the agent may see the host's /dev elsewhere, and tests use temp dirs);
// anything else keeps its path.
std::string ContainerPath(std::string_view dev_root, std::string_view host_path);

}  // namespace hf::agent

#endif  // HF_AGENT_DEVICE_H_
