#include "agent/pci_scanner.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>

#include "agent/sysfs.h"

namespace hf::agent {
namespace {

// sysfs writes ids as "0x10de".
std::string NormaliseId(std::string s) {
  if (s.rfind("0x", 0) == 0 || s.rfind("0X", 0) == 0) s.erase(0, 2);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Adds `path` as a node of `d` when it is there.
void AddNodeIfPresent(const std::string& dev_root, const std::string& path, Device* d) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return;
  d->nodes.push_back({path, ContainerPath(dev_root, path), KindOf(st)});
}

}  // namespace

PciScanner::PciScanner(std::string dev_root, std::string sys_root, std::string vendor,
                       std::vector<std::string> device_ids)
    : dev_root_(std::move(dev_root)),
      sys_root_(std::move(sys_root)),
      vendor_(std::move(vendor)),
      device_ids_(std::move(device_ids)) {}

kube::StatusOr<std::vector<Device>> PciScanner::Scan() {
  std::error_code ec;
  std::filesystem::directory_iterator it(BusDir(), ec);
  if (ec) return kube::Status(kube::Reason::kNotFound, "cannot list " + BusDir() + ": " + ec.message());
  std::vector<Device> devices;
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::filesystem::directory_entry& entry = *it;
    std::string dir = entry.path().string();
    std::optional<std::string> vendor = ReadLine(dir + "/vendor");
    std::optional<std::string> device = ReadLine(dir + "/device");
    if (!vendor || !device || NormaliseId(*vendor) != vendor_) continue;
    if (!device_ids_.empty() &&
        std::find(device_ids_.begin(), device_ids_.end(), NormaliseId(*device)) == device_ids_.end()) {
      continue;
    }
    Device d;
    d.id = entry.path().filename().string();
    d.numa_node = ReadNumaNode(dir + "/numa_node");
    std::error_code link_ec;
    std::filesystem::path group = std::filesystem::read_symlink(dir + "/iommu_group", link_ec);
    if (!link_ec && !group.filename().empty()) {
      AddNodeIfPresent(dev_root_, dev_root_ + "/vfio/" + group.filename().string(), &d);
      if (!d.nodes.empty()) AddNodeIfPresent(dev_root_, dev_root_ + "/vfio/vfio", &d);
    }
    devices.push_back(std::move(d));
  }
  return devices;
}

std::vector<std::string> PciScanner::WatchDirs() const { return {BusDir(), dev_root_ + "/vfio"}; }

std::string PciScanner::Describe() const {
  std::string s = "pci: vendor " + vendor_;
  if (!device_ids_.empty()) {
    s += " devices";
    for (const std::string& id : device_ids_) s += " " + id;
  }
  return s;
}

}  // namespace hf::agent
