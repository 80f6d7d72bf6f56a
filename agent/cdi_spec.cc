#include "agent/cdi_spec.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace hf::agent {

nlohmann::json ContainerEditsOf(const Device& d) {
  nlohmann::json edits = nlohmann::json::object();
  nlohmann::json nodes = nlohmann::json::array();
  nlohmann::json mounts = nlohmann::json::array();
  for (const DeviceNode& node : d.nodes) {
    if (node.kind == NodeKind::kFile) {
      mounts.push_back(
          {{"hostPath", node.host_path}, {"containerPath", node.container_path}, {"options", {"bind", "rw"}}});
    } else {
      nodes.push_back({{"path", node.container_path}, {"hostPath", node.host_path}, {"permissions", "rw"}});
    }
  }
  if (!nodes.empty()) edits["deviceNodes"] = std::move(nodes);
  if (!mounts.empty()) edits["mounts"] = std::move(mounts);
  return edits;
}

nlohmann::json BuildCdiSpec(const DeviceSet& set, std::string_view resource_name) {
  nlohmann::json devices = nlohmann::json::array();
  for (const DeviceSet::Advertised& a : set.advertised()) {
    const Device& d = set.devices()[a.device];
    if (d.nodes.empty()) continue;
    devices.push_back({{"name", a.id}, {"containerEdits", ContainerEditsOf(d)}});
  }
  return {{"cdiVersion", kCdiVersion}, {"kind", std::string(resource_name)}, {"devices", std::move(devices)}};
}

std::string CdiSpecPath(std::string_view cdi_dir, std::string_view resource_name) {
  std::string name(resource_name);
  std::replace(name.begin(), name.end(), '/', '-');
  return std::string(cdi_dir) + "/" + name + ".json";
}

kube::Status WriteFileAtomically(const std::string& path, const std::string& content) {
  auto fail = [&path](const std::string& what) {
    return kube::Status(kube::Reason::kInternalError, what + " " + path + ": " + std::strerror(errno));
  };
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail("create temporary file for");
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      kube::Status st = fail("write");
      close(fd);
      unlink(tmp.c_str());
      return st;
    }
    done += static_cast<size_t>(n);
  }
  // Durable before it becomes visible under its real name.
  int synced = fsync(fd);
  int closed = close(fd);
  if (synced != 0 || closed != 0) {
    kube::Status st = fail("sync");
    unlink(tmp.c_str());
    return st;
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    kube::Status st = fail("rename into");
    unlink(tmp.c_str());
    return st;
  }
  return kube::Status::Ok();
}

}  // namespace hf::agent
