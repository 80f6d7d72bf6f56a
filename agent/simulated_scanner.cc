#include "agent/simulated_scanner.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <spdlog/spdlog.h>

#include "agent/sysfs.h"

namespace hf::agent {

SimulatedScanner::SimulatedScanner(std::string dev_root, std::string sys_root, std::string prefix, int count)
    : dev_root_(std::move(dev_root)), sys_root_(std::move(sys_root)), prefix_(std::move(prefix)), count_(count) {}

std::string SimulatedScanner::PathOf(int i) const { return dev_root_ + "/" + prefix_ + "-" + std::to_string(i); }

kube::Status SimulatedScanner::Prepare() {
  numa_nodes_ = CountNumaNodes(sys_root_);
  std::error_code ec;
  std::filesystem::create_directories(dev_root_, ec);
  for (int i = 0; i < count_; ++i) {
    std::string path = PathOf(i);
    // O_EXCL: an existing file (maybe in use by a running pod) is not touched.
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
      if (errno != EEXIST) spdlog::warn("cannot create simulated device {}: {}", path, std::strerror(errno));
      continue;
    }
    std::string content = "HashFoundry simulated device " + std::to_string(i) + "\n";
    if (write(fd, content.data(), content.size()) < 0) {
      spdlog::warn("cannot write simulated device {}: {}", path, std::strerror(errno));
    }
    close(fd);
  }
  return kube::Status::Ok();
}

kube::StatusOr<std::vector<Device>> SimulatedScanner::Scan() {
  std::vector<Device> devices;
  devices.reserve(static_cast<size_t>(count_));
  for (int i = 0; i < count_; ++i) {
    Device d;
    d.id = prefix_ + "-" + std::to_string(i);
    std::string path = PathOf(i);
    struct stat st {};
    d.healthy = stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    if (numa_nodes_ > 1) d.numa_node = i % numa_nodes_;
    d.nodes.push_back({path, ContainerPath(dev_root_, path), NodeKind::kFile});
    devices.push_back(std::move(d));
  }
  return devices;
}

std::vector<std::string> SimulatedScanner::WatchDirs() const {
  std::string parent = std::filesystem::path(dev_root_).parent_path().string();
  if (parent.empty() || parent == dev_root_) return {dev_root_};
  return {dev_root_, parent};
}

std::string SimulatedScanner::Describe() const {
  return "simulated: " + std::to_string(count_) + " files " + dev_root_ + "/" + prefix_ + "-<n>";
}

}  // namespace hf::agent
