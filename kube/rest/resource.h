// GroupVersionResource and the one place that turns it into an API path.
//
// Thread-safety: pure values and functions.
#ifndef HF_KUBE_REST_RESOURCE_H_
#define HF_KUBE_REST_RESOURCE_H_

#include <string>
#include <string_view>

namespace hf::kube {

struct GroupVersionResource {
  std::string group;  // "" for the core group
  std::string version;
  std::string resource;  // plural, lower case
  bool namespaced = true;

  // "v1" or "apps/v1", as written in apiVersion.
  std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
  // "daemonsets.apps", for logs and metrics labels.
  std::string String() const { return group.empty() ? resource : resource + "." + group; }
};

// /api/v1/nodes, /apis/apps/v1/namespaces/ns/daemonsets/name/status, ...
// `ns` is ignored for cluster-scoped resources; empty `ns` on a namespaced
// resource means all namespaces.
std::string ResourcePath(const GroupVersionResource& gvr, std::string_view ns = "",
                         std::string_view name = "", std::string_view subresource = "");

// Percent-encodes a query value (selectors contain '=', ',', '!').
std::string QueryEscape(std::string_view s);

// Well-known resources. Functions, not globals: no non-POD statics.
namespace resources {
inline GroupVersionResource Nodes() { return {"", "v1", "nodes", false}; }
inline GroupVersionResource Namespaces() { return {"", "v1", "namespaces", false}; }
inline GroupVersionResource Pods() { return {"", "v1", "pods", true}; }
inline GroupVersionResource Services() { return {"", "v1", "services", true}; }
inline GroupVersionResource ServiceAccounts() { return {"", "v1", "serviceaccounts", true}; }
inline GroupVersionResource ConfigMaps() { return {"", "v1", "configmaps", true}; }
inline GroupVersionResource DaemonSets() { return {"apps", "v1", "daemonsets", true}; }
inline GroupVersionResource ControllerRevisions() { return {"apps", "v1", "controllerrevisions", true}; }
inline GroupVersionResource Deployments() { return {"apps", "v1", "deployments", true}; }
inline GroupVersionResource Leases() { return {"coordination.k8s.io", "v1", "leases", true}; }
inline GroupVersionResource Events() { return {"events.k8s.io", "v1", "events", true}; }
inline GroupVersionResource ClusterRoleBindings() {
  return {"rbac.authorization.k8s.io", "v1", "clusterrolebindings", false};
}
inline GroupVersionResource CustomResourceDefinitions() {
  return {"apiextensions.k8s.io", "v1", "customresourcedefinitions", false};
}
}  // namespace resources

}  // namespace hf::kube

#endif  // HF_KUBE_REST_RESOURCE_H_
