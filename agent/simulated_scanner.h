// SimulatedScanner: the seed's stand-in devices, regular files
// <dev_root>/<prefix>-<i> for i in [0, count). Prepare creates the missing
// ones (existing files are left as they are); afterwards a device is healthy
// while its file exists, so deleting a file is how a demo or a test breaks a
// device and creating it again mends it.
//
// NUMA: a file has no NUMA node. When sysfs shows several NUMA nodes the
// devices are spread over them (device i on node i mod n) so topology-aware
// allocation can be tried out; on a one-node machine they carry none, since
// a made-up topology would make the kubelet's topology manager reject pods.
//
// Thread-safety: see Scanner.
#ifndef HF_AGENT_SIMULATED_SCANNER_H_
#define HF_AGENT_SIMULATED_SCANNER_H_

#include <string>
#include <vector>

#include "agent/scanner.h"

namespace hf::agent {

class SimulatedScanner final : public Scanner {
 public:
  SimulatedScanner(std::string dev_root, std::string sys_root, std::string prefix, int count);

  kube::Status Prepare() override;
  kube::StatusOr<std::vector<Device>> Scan() override;
  // The directory and its parent: a directory removed and created again is
  // seen at once, not only at the next interval.
  std::vector<std::string> WatchDirs() const override;
  std::string Describe() const override;

 private:
  std::string PathOf(int i) const;

  const std::string dev_root_;
  const std::string sys_root_;
  const std::string prefix_;
  const int count_;
  int numa_nodes_ = 0;  // read once by Prepare
};

}  // namespace hf::agent

#endif  // HF_AGENT_SIMULATED_SCANNER_H_
