#include "agent/paths_scanner.h"

#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

#include <spdlog/spdlog.h>

#include "agent/sysfs.h"

namespace hf::agent {
namespace {

std::vector<std::string> Rewrite(const std::string& dev_root, const std::vector<std::string>& globs) {
  std::vector<std::string> out;
  for (const std::string& g : globs) {
    if (g == "/dev" || g.rfind("/dev/", 0) == 0) {
      out.push_back(dev_root + g.substr(4));
    } else {
      out.push_back(g);
    }
  }
  return out;
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
      patterns_(Rewrite(dev_root_, globs)),
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

  std::vector<Device> devices;
  std::map<std::string, std::string> seen;  // id -> path
  match_dirs_.clear();
  for (const std::string& path : matches) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) continue;  // a dangling symlink is no device
    Device d;
    d.id = IdFor(dev_root_, path);
    if (d.id.empty()) continue;
    if (auto [it, inserted] = seen.emplace(d.id, path); !inserted) {
      spdlog::warn("device paths {} and {} map to the same id {}; using the first", it->second, path, d.id);
      continue;
    }
    d.numa_node = NumaNodeOfDeviceNode(sys_root_, st);
    d.nodes.push_back({path, ContainerPath(dev_root_, path), KindOf(st)});
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
