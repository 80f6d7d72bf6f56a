// ObjectMeta: the compact part of metadata that controllers read, decoded
// once from JSON so caches hold a few strings instead of a JSON tree.
//
// Thread-safety: plain values.
#ifndef HF_KUBE_META_OBJECT_META_H_
#define HF_KUBE_META_OBJECT_META_H_

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hf::kube {

struct OwnerReference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string uid;
  bool controller = false;
  bool block_owner_deletion = false;

  nlohmann::json ToJson() const;
  bool operator==(const OwnerReference&) const = default;
};

struct ObjectMeta {
  std::string name;
  std::string namespace_;
  std::string uid;
  std::string resource_version;
  int64_t generation = 0;
  std::string creation_timestamp;
  bool deleting = false;  // deletionTimestamp is set
  std::string deletion_timestamp;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<OwnerReference> owner_references;
  std::vector<std::string> finalizers;

  // Reads `obj["metadata"]`. Annotations are kept only when asked for: on
  // Nodes they are large (kubeadm, CNI) and no controller of ours reads them.
  static ObjectMeta FromJson(const nlohmann::json& obj, bool with_annotations = true);

  // "namespace/name", or "name" when cluster-scoped: the cache key.
  std::string Key() const { return namespace_.empty() ? name : namespace_ + "/" + name; }
  // The owner reference marked controller, or nullptr.
  const OwnerReference* ControllerRef() const;
  bool HasFinalizer(const std::string& f) const;
};

// The key of a raw object, without decoding the rest.
std::string KeyOf(const nlohmann::json& obj);

}  // namespace hf::kube

#endif  // HF_KUBE_META_OBJECT_META_H_
