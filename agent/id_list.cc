#include "agent/id_list.h"

namespace hf::agent {

std::string IdList(const std::vector<std::string>& ids) {
  constexpr size_t kMaxIds = 5;
  constexpr size_t kMaxIdLength = 64;
  std::string s;
  for (size_t i = 0; i < ids.size() && i < kMaxIds; ++i) {
    if (i > 0) s += ", ";
    s += '"';
    s += ids[i].size() <= kMaxIdLength ? ids[i] : ids[i].substr(0, kMaxIdLength) + "...";
    s += '"';
  }
  if (ids.size() > kMaxIds) s += " and " + std::to_string(ids.size() - kMaxIds) + " more";
  return s;
}

}  // namespace hf::agent
