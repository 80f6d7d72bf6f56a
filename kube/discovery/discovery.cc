#include "kube/discovery/discovery.h"

#include <utility>

namespace hf::kube {

ServerDiscovery::ServerDiscovery(Client& client, Clock& clock, Clock::Duration ttl)
    : client_(client), clock_(clock), ttl_(ttl) {}

StatusOr<bool> ServerDiscovery::IsServed(const GroupVersionResource& gvr) {
  const std::string group_version = gvr.ApiVersion();
  {
    MutexLock l(mu_);
    auto it = by_group_version_.find(group_version);
    if (it != by_group_version_.end() && clock_.Now() - it->second.fetched < ttl_) {
      return it->second.resources.count(gvr.resource) > 0;
    }
  }
  // Not under mu_: one slow answer must not hold up questions already cached.
  const std::string path = gvr.group.empty() ? "/api/" + gvr.version : "/apis/" + group_version;
  auto doc = client_.Raw("GET", path);
  if (!doc.ok() && !IsNotFound(doc.status())) return doc.status();

  Entry entry{{}, clock_.Now()};
  if (doc.ok() && doc->is_object()) {
    // An APIResourceList; subresources appear as "pods/status" and never
    // match a plain resource name.
    for (const auto& r : doc->value("resources", Json::array())) {
      if (r.contains("name") && r["name"].is_string()) entry.resources.insert(r["name"].get<std::string>());
    }
  }
  const bool served = entry.resources.count(gvr.resource) > 0;
  MutexLock l(mu_);
  by_group_version_[group_version] = std::move(entry);
  return served;
}

void ServerDiscovery::Invalidate() {
  MutexLock l(mu_);
  by_group_version_.clear();
}

}  // namespace hf::kube
