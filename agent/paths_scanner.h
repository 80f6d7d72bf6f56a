// PathsScanner: every file a glob matches is a device (FPGA nodes,
// /dev/infiniband/uverbs*, ...). Globs under /dev are read under the dev
// root, globs under /sys under the sys root. A match that resolves, through
// symlinks, outside both roots is logged once and skipped: the agent hands
// its matches to containers, and a link such as /dev/x -> /etc/shadow must
// not become a bind mount of the host's file. Char and block devices become
// device nodes for the runtime; regular files and directories become bind
// mounts. A device's id is its path below /dev (or below / otherwise) with
// '/' as '_', e.g. infiniband_uverbs0, sys_class_accel_accel0; its NUMA node
// comes from /sys/dev/{char,block}/MAJ:MIN/device/numa_node.
//
// Thread-safety: see Scanner.
#ifndef HF_AGENT_PATHS_SCANNER_H_
#define HF_AGENT_PATHS_SCANNER_H_

#include <set>
#include <string>
#include <vector>

#include "agent/scanner.h"

namespace hf::agent {

class PathsScanner final : public Scanner {
 public:
  PathsScanner(std::string dev_root, std::string sys_root, std::vector<std::string> globs);

  kube::StatusOr<std::vector<Device>> Scan() override;
  std::vector<std::string> WatchDirs() const override;
  std::string Describe() const override;

  // The device id for a matched path.
  static std::string IdFor(std::string_view dev_root, std::string_view path);

 private:
  const std::string dev_root_;
  const std::string sys_root_;
  // The path a container sees: the roots moved back to /dev and /sys.
  std::string ContainerPathOf(const std::string& path) const;

  const std::vector<std::string> patterns_;  // with /dev and /sys rewritten to the roots
  std::vector<std::string> globs_;           // as given, for Describe
  std::set<std::string> match_dirs_;         // directories of the last scan's matches
  std::set<std::string> refused_;            // matches outside the roots, logged once
};

}  // namespace hf::agent

#endif  // HF_AGENT_PATHS_SCANNER_H_
