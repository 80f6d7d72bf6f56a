// LabelSelector: metav1.LabelSelector, for DevicePool.spec.nodeSelector.
// Matches() evaluates it locally (the operator matches Nodes from its
// cache); ToSelectorString() writes it in the API's labelSelector query
// syntax for list and watch requests. Also the label and DNS name syntax
// the API server enforces (apimachinery's validation package), so that a
// spec is refused when it is applied rather than when the operator uses it.
//
// Thread-safety: plain values; const methods are safe to call concurrently.
#ifndef HF_API_LABEL_SELECTOR_H_
#define HF_API_LABEL_SELECTOR_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "api/json_field.h"
#include "kube/status.h"

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

// [a-z0-9]([-a-z0-9]*[a-z0-9])? of at most 63 characters (RFC 1123).
bool IsDnsLabel(std::string_view s);
// DNS labels joined by dots, at most 253 characters in all (as
// apimachinery's IsDNS1123Subdomain, which does not bound each label).
bool IsDnsSubdomain(std::string_view s);
// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]: the name part of a qualified
// name, without its length limit.
bool IsQualifiedNamePart(std::string_view s);

// A label key (apimachinery's IsQualifiedName): an optional DNS subdomain
// prefix of at most 253 characters and '/', then a name of at most 63
// characters. Invalid, saying what is wrong, otherwise.
kube::Status ValidateLabelKey(std::string_view key);
// A label value: empty, or a name part of at most 63 characters.
kube::Status ValidateLabelValue(std::string_view value);

namespace internal {
// Decodes and validates a metav1.LabelSelector as the API server does:
// label keys and values, operators, and values required for In/NotIn and
// forbidden for Exists/DoesNotExist.
LabelSelector DecodeLabelSelector(const Field& field);
// An object of labels, each key and value checked as above (e.g. labels
// the operator puts on the objects it creates).
std::map<std::string, std::string> DecodeLabels(const Field& field);
}  // namespace internal

}  // namespace hf::api

#endif  // HF_API_LABEL_SELECTOR_H_
