#include "agent/paths_scanner.h"

#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <optional>

#include <spdlog/spdlog.h>

#include "agent/sysfs.h"

namespace hf::agent {
namespace {

std::vector<std::string> Rewrite(const std::string& dev_root, const std::string& sys_root,
                                 const std::vector<std::string>& globs) {
  std::vector<std::string> out;
  for (const std::string& g : globs) {
    if (g == "/dev" || g.rfind("/dev/", 0) == 0) {
      out.push_back(dev_root + g.substr(4));
    } else if (g == "/sys" || g.rfind("/sys/", 0) == 0) {
      out.push_back(sys_root + g.substr(4));
    } else {
      out.push_back(g);
    }
  }
  return out;
}

// `path` with every symlink resolved; empty if it cannot be resolved.
std::string RealPath(const std::string& path) {
  std::error_code ec;
  std::filesystem::path real = std::filesystem::canonical(path, ec);
  return ec ? std::string() : real.string();
}

// Whether `path` is `root` or below it (both resolved; an empty root, one
// that does not exist, holds nothing).
bool IsUnder(std::string_view path, std::string_view root) {
  if (root.empty() || path.empty() || path.substr(0, root.size()) != root) return false;
  return path.size() == root.size() || root == "/" || path[root.size()] == '/';
}

// `path` with the leading `root` replaced by `to`, if it is under root.
std::optional<std::string> Reroot(std::string_view path, std::string_view root, std::string_view to) {
  while (root.size() > 1 && root.back() == '/') root.remove_suffix(1);
  if (path.size() <= root.size() || path.substr(0, root.size()) != root || path[root.size()] != '/') {
    return std::nullopt;
  }
  return std::string(to) + std::string(path.substr(root.size()));
}

bool HasWildcard(std::string_view s) { return s.find_first_of("*?[{") != std::string_view::npos; }

// The longest leading directory of `pattern` without wildcards, or its
// nearest existing ancestor: where a new match would appear.
std::string StaticDir(const std::string& pattern) {
  std::filesystem::path dir;
  for (const auto& part : std::filesystem::path(pattern).parent_path()) {
    if (HasWildcard(part.string())) break;
    dir /= part;
  }
  std::error_code ec;
  while (!dir.empty() && dir != dir.root_path() && !std::filesystem::is_directory(dir, ec)) dir = dir.parent_path();
  return dir.empty() ? "/" : dir.string();
}

}  // namespace

PathsScanner::PathsScanner(std::string dev_root, std::string sys_root, std::vector<std::string> globs)
    : dev_root_(std::move(dev_root)),
      sys_root_(std::move(sys_root)),
      patterns_(Rewrite(dev_root_, sys_root_, globs)),
      globs_(std::move(globs)) {}

std::string PathsScanner::IdFor(std::string_view dev_root, std::string_view path) {
  std::string rel = ContainerPath(dev_root, path);
  if (rel.rfind("/dev/", 0) == 0) rel.erase(0, 5);
  while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
  for (char& c : rel) {
    unsigned char u = static_cast<unsigned char>(c);
    if (!std::isalnum(u) && c != '-' && c != '_' && c != '.' && c != ':') c = '_';
  }
  return rel;
}

std::string PathsScanner::ContainerPathOf(const std::string& path) const {
  if (std::optional<std::string> in_dev = Reroot(path, dev_root_, "/dev")) return *in_dev;
  if (std::optional<std::string> in_sys = Reroot(path, sys_root_, "/sys")) return *in_sys;
  return path;
}

kube::StatusOr<std::vector<Device>> PathsScanner::Scan() {
  std::vector<std::string> matches;
  for (const std::string& pattern : patterns_) {
    glob_t g{};
    int rc = glob(pattern.c_str(), GLOB_BRACE | GLOB_NOSORT, nullptr, &g);
    if (rc == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) matches.emplace_back(g.gl_pathv[i]);
    }
    globfree(&g);
    if (rc == GLOB_NOSPACE) return kube::Status(kube::Reason::kInternalError, "glob " + pattern + ": out of memory");
  }
  std::sort(matches.begin(), matches.end(), NaturalLess);
  matches.erase(std::unique(matches.begin(), matches.end()), matches.end());

  // Resolved per scan: a root may appear, or be a symlink itself.
  const std::string dev_real = RealPath(dev_root_);
  const std::string sys_real = RealPath(sys_root_);
  std::vector<Device> devices;
  std::map<std::string, std::string> seen;  // id -> path
  match_dirs_.clear();
  for (const std::string& path : matches) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) continue;  // a dangling symlink is no device
    if (std::string real = RealPath(path); !IsUnder(real, dev_real) && !IsUnder(real, sys_real)) {
      if (refused_.insert(path).second) {
        spdlog::warn("skipping {}: it resolves to {}, outside {} and {}", path, real, dev_root_, sys_root_);
      }
      continue;
    }
    std::string container_path = ContainerPathOf(path);
    Device d;
    d.id = IdFor("/dev", container_path);
    if (d.id.empty()) continue;
    if (auto [it, inserted] = seen.emplace(d.id, path); !inserted) {
      spdlog::warn("device paths {} and {} map to the same id {}; using the first", it->second, path, d.id);
      continue;
    }
    d.numa_node = NumaNodeOfDeviceNode(sys_root_, st);
    d.nodes.push_back({path, container_path, KindOf(st)});
    match_dirs_.insert(std::filesystem::path(path).parent_path().string());
    devices.push_back(std::move(d));
  }
  return devices;
}

std::vector<std::string> PathsScanner::WatchDirs() const {
  std::set<std::string> dirs = match_dirs_;
  for (const std::string& pattern : patterns_) dirs.insert(StaticDir(pattern));
  return {dirs.begin(), dirs.end()};
}

std::string PathsScanner::Describe() const {
  std::string s = "paths:";
  for (const std::string& g : globs_) s += " " + g;
  return s;
}

}  // namespace hf::agent
