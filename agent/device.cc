#include "agent/device.h"

#include <cctype>

namespace hf::agent {
namespace {

bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

}  // namespace

bool NaturalLess(std::string_view a, std::string_view b) {
  size_t i = 0;
  size_t j = 0;
  while (i < a.size() && j < b.size()) {
    if (IsDigit(a[i]) && IsDigit(b[j])) {
      // Compare the runs by value: skip leading zeros, then the longer run
      // is larger, then the digits decide.
      size_t ai = i;
      size_t bj = j;
      while (ai < a.size() && a[ai] == '0') ++ai;
      while (bj < b.size() && b[bj] == '0') ++bj;
      size_t ae = ai;
      size_t be = bj;
      while (ae < a.size() && IsDigit(a[ae])) ++ae;
      while (be < b.size() && IsDigit(b[be])) ++be;
      if (ae - ai != be - bj) return ae - ai < be - bj;
      if (int c = a.substr(ai, ae - ai).compare(b.substr(bj, be - bj)); c != 0) return c < 0;
      // Equal values: fewer leading zeros first, so the order is total.
      if (ae - i != be - j) return ae - i < be - j;
      i = ae;
      j = be;
      continue;
    }
    if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
    ++i;
    ++j;
  }
  return a.size() - i < b.size() - j;
}

NodeKind KindOf(const struct stat& st) {
  if (S_ISCHR(st.st_mode)) return NodeKind::kCharDevice;
  if (S_ISBLK(st.st_mode)) return NodeKind::kBlockDevice;
  return NodeKind::kFile;
}

std::string ContainerPath(std::string_view dev_root, std::string_view host_path) {
  while (dev_root.size() > 1 && dev_root.back() == '/') dev_root.remove_suffix(1);
  if (host_path.size() > dev_root.size() && host_path.substr(0, dev_root.size()) == dev_root &&
      host_path[dev_root.size()] == '/') {
    return "/dev" + std::string(host_path.substr(dev_root.size()));
  }
  return std::string(host_path);
}

}  // namespace hf::agent
