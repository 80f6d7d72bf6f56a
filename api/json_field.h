// Field: one JSON value together with its path in the object being decoded
// ("spec.discovery.pci.vendor"), and Errors, where type and range mistakes
// found through it are collected; plus the apiVersion/kind/metadata part
// every decoder shares. The codecs of hf::api are written on it so
// that no JSON input makes them throw, and every complaint names its field.
// Internal to hf_api: the public headers expose typed structs, not this.
//
// Thread-safety: a Field and its Errors belong to one decode on one thread.
#ifndef HF_API_JSON_FIELD_H_
#define HF_API_JSON_FIELD_H_

#include <cstdint>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kube/meta/object_meta.h"
#include "kube/status.h"

namespace hf::api::internal {

class Errors {
 public:
  void Add(std::string_view path, std::string_view what);
  bool ok() const { return messages_.empty(); }
  size_t count() const { return messages_.size(); }
  // Invalid, with every complaint: "DevicePool x: spec.a: must be ...; spec.b: ...".
  kube::Status ToStatus(std::string_view object) const;

 private:
  std::vector<std::string> messages_;
};

class Field {
 public:
  // The whole object; its path is empty.
  Field(const nlohmann::json& root, Errors* errors) : value_(&root), errors_(errors) {}

  Errors& errors() const { return *errors_; }
  // Not absent and not JSON null (the API server drops nulls; so do we).
  bool present() const { return value_ != nullptr && !value_->is_null(); }
  const nlohmann::json* json() const { return present() ? value_ : nullptr; }

  // The member `key`; absent when this is absent or not an object (the
  // mismatch is reported by whoever reads this as an object).
  Field operator[](std::string_view key) const;

  // Each accessor returns nothing for an absent value, and reports a present
  // value of the wrong type or range.
  bool IsObject() const;
  std::optional<std::string> String() const;
  // An integer in [min, max]; integral floats (4.0) count as integers.
  std::optional<int64_t> Int(int64_t min = INT64_MIN, int64_t max = INT64_MAX) const;
  std::optional<double> Number(double min, double max) const;
  std::optional<bool> Bool() const;
  // Elements of an array, with paths "x[0]", "x[1]", ...
  std::vector<Field> Items() const;
  // Members of an object, with paths "x[key]".
  std::vector<std::pair<std::string, Field>> Members() const;
  // An object of strings, e.g. labels.
  std::map<std::string, std::string> StringMap() const;
  // An array of strings.
  std::vector<std::string> Strings() const;

  // A string that must be one of `names`, mapped to its value.
  template <typename E>
  std::optional<E> Enum(std::initializer_list<std::pair<std::string_view, E>> names) const {
    std::optional<std::string> s = String();
    if (!s) return std::nullopt;
    for (const auto& [name, value] : names) {
      if (name == *s) return value;
    }
    std::string allowed;
    for (const auto& [name, value] : names) allowed += (allowed.empty() ? "" : ", ") + std::string(name);
    Invalid("unsupported value \"" + *s + "\": must be one of " + allowed);
    return std::nullopt;
  }

  // Reports "<path>: is required" when absent; returns present().
  bool Require() const;
  // Reports "<path>: <what>".
  void Invalid(std::string_view what) const;

 private:
  Field(const nlohmann::json* value, std::string path, Errors* errors)
      : value_(value), path_(std::move(path)), errors_(errors) {}
  void WrongType(std::string_view expected) const;

  const nlohmann::json* value_;  // nullptr when absent
  std::string path_;
  Errors* errors_;
};

// Checks apiVersion and kind where present (a manifest of another kind is
// an error; a bare {"spec": ...} is not) and reads metadata.
kube::ObjectMeta DecodeObjectHeader(const Field& root, std::string_view kind);

}  // namespace hf::api::internal

#endif  // HF_API_JSON_FIELD_H_
