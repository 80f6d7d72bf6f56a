// Small readers for sysfs-style files: one trimmed line, a NUMA node, the
// NUMA node of a device node through /sys/dev/{char,block}/MAJ:MIN. All take
// paths under an injected root, so tests use fake trees.
//
// Thread-safety: pure functions over the filesystem.
#ifndef HF_AGENT_SYSFS_H_
#define HF_AGENT_SYSFS_H_

#include <sys/stat.h>

#include <optional>
#include <string>

namespace hf::agent {

// The file's first line without surrounding whitespace; nullopt if unreadable.
std::optional<std::string> ReadLine(const std::string& path);

// A numa_node file: nullopt when missing, unparsable or -1 (no affinity).
std::optional<int> ReadNumaNode(const std::string& path);

// Number of <sys_root>/devices/system/node/node<N> directories (0 if none).
int CountNumaNodes(const std::string& sys_root);

// NUMA node of the device behind a char or block device node, from
// <sys_root>/dev/{char,block}/<major>:<minor>/device/numa_node.
std::optional<int> NumaNodeOfDeviceNode(const std::string& sys_root, const struct stat& st);

}  // namespace hf::agent

#endif  // HF_AGENT_SYSFS_H_
