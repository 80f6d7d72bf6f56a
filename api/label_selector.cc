#include "api/label_selector.h"

#include <algorithm>
#include <utility>

namespace hf::api {
namespace {

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

LabelSelector DecodeLabelSelector(const Field& field) {
  LabelSelector s;
  if (!field.IsObject()) return s;
  s.match_labels = field["matchLabels"].StringMap();
  for (const Field& item : field["matchExpressions"].Items()) {
    if (!item.IsObject()) continue;
    LabelSelectorRequirement r;
    if (item["key"].Require()) r.key = item["key"].String().value_or("");
    if (item["operator"].Require()) {
      std::optional<SelectorOperator> op = item["operator"].Enum<SelectorOperator>(
          {{"In", SelectorOperator::kIn},
           {"NotIn", SelectorOperator::kNotIn},
           {"Exists", SelectorOperator::kExists},
           {"DoesNotExist", SelectorOperator::kDoesNotExist}});
      if (!op) continue;
      r.op = *op;
    }
    r.values = item["values"].Strings();
    bool set_op = r.op == SelectorOperator::kIn || r.op == SelectorOperator::kNotIn;
    if (set_op && r.values.empty()) {
      item["values"].Invalid("must be non-empty when operator is In or NotIn");
    } else if (!set_op && !r.values.empty()) {
      item["values"].Invalid("must be empty when operator is Exists or DoesNotExist");
    }
    s.match_expressions.push_back(std::move(r));
  }
  return s;
}

}  // namespace internal
}  // namespace hf::api
