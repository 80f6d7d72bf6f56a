#include "kube/meta/object_meta.h"

#include <algorithm>

namespace hf::kube {
namespace {

std::map<std::string, std::string> StringMap(const nlohmann::json& m) {
  std::map<std::string, std::string> out;
  if (!m.is_object()) return out;
  for (auto it = m.begin(); it != m.end(); ++it) {
    if (it.value().is_string()) out.emplace(it.key(), it.value().get<std::string>());
  }
  return out;
}

std::string Str(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool Bool(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace

nlohmann::json OwnerReference::ToJson() const {
  nlohmann::json j = {{"apiVersion", api_version}, {"kind", kind}, {"name", name}, {"uid", uid}};
  if (controller) j["controller"] = true;
  if (block_owner_deletion) j["blockOwnerDeletion"] = true;
  return j;
}

ObjectMeta ObjectMeta::FromJson(const nlohmann::json& obj, bool with_annotations) {
  ObjectMeta m;
  if (!obj.is_object()) return m;
  auto it = obj.find("metadata");
  if (it == obj.end() || !it->is_object()) return m;
  const auto& md = *it;
  m.name = Str(md, "name");
  m.namespace_ = Str(md, "namespace");
  m.uid = Str(md, "uid");
  m.resource_version = Str(md, "resourceVersion");
  m.creation_timestamp = Str(md, "creationTimestamp");
  if (auto g = md.find("generation"); g != md.end() && g->is_number_integer()) m.generation = g->get<int64_t>();
  m.deletion_timestamp = Str(md, "deletionTimestamp");
  m.deleting = md.contains("deletionTimestamp") && !md["deletionTimestamp"].is_null();
  if (auto l = md.find("labels"); l != md.end()) m.labels = StringMap(*l);
  if (with_annotations) {
    if (auto a = md.find("annotations"); a != md.end()) m.annotations = StringMap(*a);
  }
  if (auto o = md.find("ownerReferences"); o != md.end() && o->is_array()) {
    for (const auto& r : *o) {
      if (!r.is_object()) continue;
      OwnerReference ref{Str(r, "apiVersion"), Str(r, "kind"), Str(r, "name"), Str(r, "uid"),
                         Bool(r, "controller"), Bool(r, "blockOwnerDeletion")};
      m.owner_references.push_back(std::move(ref));
    }
  }
  if (auto f = md.find("finalizers"); f != md.end() && f->is_array()) {
    for (const auto& s : *f) {
      if (s.is_string()) m.finalizers.push_back(s.get<std::string>());
    }
  }
  return m;
}

const OwnerReference* ObjectMeta::ControllerRef() const {
  for (const auto& r : owner_references) {
    if (r.controller) return &r;
  }
  return nullptr;
}

bool ObjectMeta::HasFinalizer(const std::string& f) const {
  return std::find(finalizers.begin(), finalizers.end(), f) != finalizers.end();
}

std::string KeyOf(const nlohmann::json& obj) {
  if (!obj.is_object()) return "";
  auto it = obj.find("metadata");
  if (it == obj.end() || !it->is_object()) return "";
  std::string ns = Str(*it, "namespace");
  std::string name = Str(*it, "name");
  return ns.empty() ? name : ns + "/" + name;
}

}  // namespace hf::kube
