#include "api/json_field.h"

#include <cmath>
#include <sstream>

#include "api/names.h"

namespace hf::api::internal {
namespace {

std::string_view TypeName(const nlohmann::json& j) {
  if (j.is_number_integer()) return "integer";
  if (j.is_number()) return "number";
  return j.type_name();  // "object", "array", "string", "boolean"
}

}  // namespace

void Errors::Add(std::string_view path, std::string_view what) {
  std::string m = path.empty() ? std::string(what) : std::string(path) + ": " + std::string(what);
  messages_.push_back(std::move(m));
}

kube::Status Errors::ToStatus(std::string_view object) const {
  std::string all(object);
  all += ": ";
  for (size_t i = 0; i < messages_.size(); ++i) {
    if (i > 0) all += "; ";
    all += messages_[i];
  }
  return kube::Status(kube::Reason::kInvalid, std::move(all));
}

Field Field::operator[](std::string_view key) const {
  std::string path = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  const nlohmann::json* child = nullptr;
  if (present() && value_->is_object()) {
    auto it = value_->find(key);
    if (it != value_->end()) child = &*it;
  }
  return Field(child, std::move(path), errors_);
}

void Field::Invalid(std::string_view what) const { errors_->Add(path_, what); }

void Field::WrongType(std::string_view expected) const {
  Invalid("must be " + std::string(expected) + ", not " + std::string(TypeName(*value_)));
}

bool Field::Require() const {
  if (!present()) Invalid("is required");
  return present();
}

bool Field::IsObject() const {
  if (!present()) return false;
  if (!value_->is_object()) {
    WrongType("an object");
    return false;
  }
  return true;
}

std::optional<std::string> Field::String() const {
  if (!present()) return std::nullopt;
  if (!value_->is_string()) {
    WrongType("a string");
    return std::nullopt;
  }
  return value_->get<std::string>();
}

std::optional<int64_t> Field::Int(int64_t min, int64_t max) const {
  if (!present()) return std::nullopt;
  std::optional<int64_t> v;
  if (value_->is_number_unsigned()) {
    // Above INT64_MAX get<int64_t>() would wrap; such a value is out of range anyway.
    uint64_t u = value_->get<uint64_t>();
    if (u <= static_cast<uint64_t>(INT64_MAX)) v = static_cast<int64_t>(u);
  } else if (value_->is_number_integer()) {
    v = value_->get<int64_t>();
  } else if (value_->is_number_float()) {
    double d = value_->get<double>();
    if (std::trunc(d) != d) {
      WrongType("an integer");
      return std::nullopt;
    }
    // 2^63 is exactly representable; anything at or above it does not fit.
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0) v = static_cast<int64_t>(d);
  } else {
    WrongType("an integer");
    return std::nullopt;
  }
  if (!v || *v < min || *v > max) {
    Invalid("must be between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  return v;
}

std::optional<double> Field::Number(double min, double max) const {
  if (!present()) return std::nullopt;
  if (!value_->is_number()) {
    WrongType("a number");
    return std::nullopt;
  }
  double d = value_->get<double>();
  if (!(d >= min && d <= max)) {
    std::ostringstream bounds;  // "0 and 1", not std::to_string's "0.000000"
    bounds << "must be between " << min << " and " << max;
    Invalid(bounds.str());
    return std::nullopt;
  }
  return d;
}

std::optional<bool> Field::Bool() const {
  if (!present()) return std::nullopt;
  if (!value_->is_boolean()) {
    WrongType("a boolean");
    return std::nullopt;
  }
  return value_->get<bool>();
}

std::vector<Field> Field::Items() const {
  std::vector<Field> items;
  if (!present()) return items;
  if (!value_->is_array()) {
    WrongType("an array");
    return items;
  }
  items.reserve(value_->size());
  for (size_t i = 0; i < value_->size(); ++i) {
    items.push_back(Field(&(*value_)[i], path_ + "[" + std::to_string(i) + "]", errors_));
  }
  return items;
}

std::vector<std::pair<std::string, Field>> Field::Members() const {
  std::vector<std::pair<std::string, Field>> members;
  if (!IsObject()) return members;
  for (auto it = value_->begin(); it != value_->end(); ++it) {
    members.emplace_back(it.key(), Field(&it.value(), path_ + "[" + it.key() + "]", errors_));
  }
  return members;
}

std::map<std::string, std::string> Field::StringMap() const {
  std::map<std::string, std::string> out;
  for (const auto& [key, member] : Members()) {
    if (std::optional<std::string> s = member.String()) out.emplace(key, std::move(*s));
  }
  return out;
}

std::vector<std::string> Field::Strings() const {
  std::vector<std::string> out;
  for (const Field& item : Items()) {
    if (std::optional<std::string> s = item.String()) out.push_back(std::move(*s));
  }
  return out;
}

kube::ObjectMeta DecodeObjectHeader(const Field& root, std::string_view kind) {
  if (std::optional<std::string> api_version = root["apiVersion"].String();
      api_version && *api_version != kApiVersion) {
    root["apiVersion"].Invalid("must be " + std::string(kApiVersion));
  }
  if (std::optional<std::string> k = root["kind"].String(); k && *k != kind) {
    root["kind"].Invalid("must be " + std::string(kind));
  }
  Field metadata = root["metadata"];
  if (!metadata.IsObject()) return {};
  size_t errors_before = root.errors().count();
  // Type-check what ObjectMeta::FromJson reads so that its lenient reading
  // cannot hide a malformed object.
  metadata["name"].String();
  metadata["labels"].StringMap();
  metadata["annotations"].StringMap();
  metadata["finalizers"].Strings();
  metadata["generation"].Int(0);
  for (const Field& ref : metadata["ownerReferences"].Items()) {
    if (!ref.IsObject()) continue;
    for (const char* key : {"apiVersion", "kind", "name", "uid"}) ref[key].String();
    ref["controller"].Bool();
    ref["blockOwnerDeletion"].Bool();
  }
  if (root.errors().count() != errors_before) return {};
  return kube::ObjectMeta::FromJson(*root.json());
}

}  // namespace hf::api::internal
