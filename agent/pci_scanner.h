// PciScanner: PCI functions of one vendor (and, if given, of some device
// ids) from <sys_root>/bus/pci/devices/*/{vendor,device,numa_node}. A
// device's id is its PCI address (0000:3b:00.0). When the function is in an
// IOMMU group whose VFIO node <dev_root>/vfio/<group> exists, that node (and
// the VFIO container node <dev_root>/vfio/vfio) is handed to containers;
// otherwise the device has no node and containers get its address through
// the environment only, for drivers that open it by address.
//
// The kernel does not report sysfs changes through inotify, so on a real
// machine hot-unplug is seen by the interval rescan; the bus directory is
// watched anyway, which is what fake trees in tests exercise.
//
// Thread-safety: see Scanner.
#ifndef HF_AGENT_PCI_SCANNER_H_
#define HF_AGENT_PCI_SCANNER_H_

#include <string>
#include <vector>

#include "agent/scanner.h"

namespace hf::agent {

class PciScanner final : public Scanner {
 public:
  // `vendor` and `device_ids` as 4 lower-case hex digits.
  PciScanner(std::string dev_root, std::string sys_root, std::string vendor, std::vector<std::string> device_ids);

  kube::StatusOr<std::vector<Device>> Scan() override;
  std::vector<std::string> WatchDirs() const override;
  std::string Describe() const override;

 private:
  std::string BusDir() const { return sys_root_ + "/bus/pci/devices"; }

  const std::string dev_root_;
  const std::string sys_root_;
  const std::string vendor_;
  const std::vector<std::string> device_ids_;
};

}  // namespace hf::agent

#endif  // HF_AGENT_PCI_SCANNER_H_
