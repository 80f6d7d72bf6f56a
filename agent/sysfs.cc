#include "agent/sysfs.h"

#include <sys/sysmacros.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace hf::agent {

std::optional<std::string> ReadLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  size_t b = 0;
  size_t e = line.size();
  while (b < e && std::isspace(static_cast<unsigned char>(line[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(line[e - 1]))) --e;
  return line.substr(b, e - b);
}

std::optional<int> ReadNumaNode(const std::string& path) {
  std::optional<std::string> line = ReadLine(path);
  if (!line) return std::nullopt;
  int node = -1;
  auto [end, ec] = std::from_chars(line->data(), line->data() + line->size(), node);
  if (ec != std::errc() || end != line->data() + line->size() || node < 0) return std::nullopt;
  return node;
}

int CountNumaNodes(const std::string& sys_root) {
  std::error_code ec;
  int n = 0;
  for (std::filesystem::directory_iterator it(sys_root + "/devices/system/node", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.size() > 4 && name.compare(0, 4, "node") == 0 &&
        std::all_of(name.begin() + 4, name.end(), [](unsigned char c) { return std::isdigit(c); })) {
      ++n;
    }
  }
  return n;
}

std::optional<int> NumaNodeOfDeviceNode(const std::string& sys_root, const struct stat& st) {
  const char* type = S_ISCHR(st.st_mode) ? "char" : S_ISBLK(st.st_mode) ? "block" : nullptr;
  if (type == nullptr) return std::nullopt;
  return ReadNumaNode(sys_root + "/dev/" + type + "/" + std::to_string(major(st.st_rdev)) + ":" +
                      std::to_string(minor(st.st_rdev)) + "/device/numa_node");
}

}  // namespace hf::agent
