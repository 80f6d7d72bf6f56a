// LabelSelector: metav1.LabelSelector, for DevicePool.spec.nodeSelector.
// Matches() evaluates it locally (the operator matches Nodes from its
// cache); ToSelectorString() writes it in the API's labelSelector query
// syntax for list and watch requests.
//
// Thread-safety: plain values; const methods are safe to call concurrently.
#ifndef HF_API_LABEL_SELECTOR_H_
#define HF_API_LABEL_SELECTOR_H_

#include <map>
#include <string>
#include <vector>

#include "api/json_field.h"

namespace hf::api {

enum class SelectorOperator { kIn, kNotIn, kExists, kDoesNotExist };

struct LabelSelectorRequirement {
  std::string key;
  SelectorOperator op = SelectorOperator::kExists;
  // Non-empty for In and NotIn, empty for Exists and DoesNotExist.
  std::vector<std::string> values;

  bool operator==(const LabelSelectorRequirement&) const = default;
};

struct LabelSelector {
  std::map<std::string, std::string> match_labels;
  std::vector<LabelSelectorRequirement> match_expressions;

  // An empty selector selects everything (as in metav1; DevicePool also
  // treats an absent nodeSelector so).
  bool Empty() const { return match_labels.empty() && match_expressions.empty(); }

  // Every matchLabels entry equals and every requirement holds. NotIn and
  // DoesNotExist hold for a missing key; In and Exists do not.
  bool Matches(const std::map<std::string, std::string>& labels) const;

  // "a=b,c in (x,y),d notin (z),e,!f": requirements sorted by key and
  // values sorted, as apimachinery prints them; "" for an empty selector.
  std::string ToSelectorString() const;

  bool operator==(const LabelSelector&) const = default;
};

namespace internal {
// Decodes and validates a metav1.LabelSelector (operators, and values
// required for In/NotIn and forbidden for Exists/DoesNotExist).
LabelSelector DecodeLabelSelector(const Field& field);
}  // namespace internal

}  // namespace hf::api

#endif  // HF_API_LABEL_SELECTOR_H_
