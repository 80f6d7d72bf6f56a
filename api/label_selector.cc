#include "api/label_selector.h"

#include <algorithm>
#include <utility>

namespace hf::api {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

// [a-z0-9]([-a-z0-9]*[a-z0-9])? of any length: apimachinery bounds a
// subdomain's length, not its labels'.
bool IsDnsLabelSyntax(std::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return IsLowerAlnum(c) || c == '-'; });
}

// Keys are echoed in messages; a pasted megabyte must not be.
std::string Quote(std::string_view s) {
  constexpr size_t kMax = 64;
  return "\"" + std::string(s.substr(0, kMax)) + (s.size() > kMax ? "...\"" : "\"");
}

bool Holds(const LabelSelectorRequirement& r, const std::map<std::string, std::string>& labels) {
  auto it = labels.find(r.key);
  bool found = it != labels.end();
  bool in_values = found && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
  switch (r.op) {
    case SelectorOperator::kIn:
      return in_values;
    case SelectorOperator::kNotIn:
      return !in_values;
    case SelectorOperator::kExists:
      return found;
    case SelectorOperator::kDoesNotExist:
      return !found;
  }
  return false;
}

std::string SortedSet(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  std::string out = "(";
  for (size_t i = 0; i < values.size(); ++i) out += (i > 0 ? "," : "") + values[i];
  return out + ")";
}

std::string RequirementString(const LabelSelectorRequirement& r) {
  switch (r.op) {
    case SelectorOperator::kIn:
      return r.key + " in " + SortedSet(r.values);
    case SelectorOperator::kNotIn:
      return r.key + " notin " + SortedSet(r.values);
    case SelectorOperator::kExists:
      return r.key;
    case SelectorOperator::kDoesNotExist:
      return "!" + r.key;
  }
  return r.key;
}

}  // namespace

bool IsDnsLabel(std::string_view s) { return s.size() <= 63 && IsDnsLabelSyntax(s); }

bool IsDnsSubdomain(std::string_view s) {
  if (s.size() > 253) return false;
  for (size_t start = 0;;) {
    size_t dot = s.find('.', start);
    if (!IsDnsLabelSyntax(s.substr(start, dot == std::string_view::npos ? dot : dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool IsQualifiedNamePart(std::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

kube::Status ValidateLabelKey(std::string_view key) {
  size_t slash = key.find('/');
  std::string_view name = slash == std::string_view::npos ? key : key.substr(slash + 1);
  bool prefix_ok = slash == std::string_view::npos || IsDnsSubdomain(key.substr(0, slash));
  if (prefix_ok && name.size() <= 63 && IsQualifiedNamePart(name)) return kube::Status::Ok();
  return kube::Status(kube::Reason::kInvalid,
                      Quote(key) +
                          " is not a label key: an optional lower-case DNS subdomain prefix (at most 253 "
                          "characters) and '/', then a name of at most 63 letters, digits, '-', '_' or '.' that "
                          "starts and ends with a letter or digit");
}

kube::Status ValidateLabelValue(std::string_view value) {
  if (value.empty() || (value.size() <= 63 && IsQualifiedNamePart(value))) return kube::Status::Ok();
  return kube::Status(kube::Reason::kInvalid,
                      Quote(value) +
                          " is not a label value: empty, or at most 63 letters, digits, '-', '_' or '.' that "
                          "start and end with a letter or digit");
}

bool LabelSelector::Matches(const std::map<std::string, std::string>& labels) const {
  for (const auto& [key, value] : match_labels) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return std::all_of(match_expressions.begin(), match_expressions.end(),
                     [&](const LabelSelectorRequirement& r) { return Holds(r, labels); });
}

std::string LabelSelector::ToSelectorString() const {
  std::vector<std::pair<std::string, std::string>> parts;  // key, text
  for (const auto& [key, value] : match_labels) parts.emplace_back(key, key + "=" + value);
  for (const auto& r : match_expressions) parts.emplace_back(r.key, RequirementString(r));
  std::stable_sort(parts.begin(), parts.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  for (const auto& [key, text] : parts) out += (out.empty() ? "" : ",") + text;
  return out;
}

namespace internal {

std::map<std::string, std::string> DecodeLabels(const Field& field) {
  std::map<std::string, std::string> labels;
  for (const auto& [key, member] : field.Members()) {
    std::optional<std::string> value = member.String();
    if (!value) continue;
    if (kube::Status st = ValidateLabelKey(key); !st.ok()) {
      member.Invalid(st.message());
    } else if (kube::Status st = ValidateLabelValue(*value); !st.ok()) {
      member.Invalid(st.message());
    } else {
      labels.emplace(key, std::move(*value));
    }
  }
  return labels;
}

LabelSelector DecodeLabelSelector(const Field& field) {
  LabelSelector s;
  if (!field.IsObject()) return s;
  s.match_labels = DecodeLabels(field["matchLabels"]);
  for (const Field& item : field["matchExpressions"].Items()) {
    if (!item.IsObject()) continue;
    LabelSelectorRequirement r;
    if (item["key"].Require()) {
      r.key = item["key"].String().value_or("");
      if (kube::Status st = ValidateLabelKey(r.key); !st.ok() && item["key"].json()->is_string()) {
        item["key"].Invalid(st.message());
      }
    }
    if (item["operator"].Require()) {
      std::optional<SelectorOperator> op = item["operator"].Enum<SelectorOperator>(
          {{"In", SelectorOperator::kIn},
           {"NotIn", SelectorOperator::kNotIn},
           {"Exists", SelectorOperator::kExists},
           {"DoesNotExist", SelectorOperator::kDoesNotExist}});
      if (!op) continue;
      r.op = *op;
    }
    std::vector<Field> values = item["values"].Items();
    for (const Field& value : values) {
      std::optional<std::string> v = value.String();
      if (!v) continue;
      if (kube::Status st = ValidateLabelValue(*v); !st.ok()) {
        value.Invalid(st.message());
        continue;
      }
      r.values.push_back(std::move(*v));
    }
    bool set_op = r.op == SelectorOperator::kIn || r.op == SelectorOperator::kNotIn;
    if (set_op && values.empty()) {
      item["values"].Invalid("must be non-empty when operator is In or NotIn");
    } else if (!set_op && !values.empty()) {
      item["values"].Invalid("must be empty when operator is Exists or DoesNotExist");
    }
    s.match_expressions.push_back(std::move(r));
  }
  return s;
}

}  // namespace internal
}  // namespace hf::api
