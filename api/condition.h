// Condition: the metav1.Condition shape both kinds use in status, and
// SetCondition, which keeps lastTransitionTime while a condition's status
// stays the same (as apimachinery's meta.SetStatusCondition does), so a
// resync that finds nothing new produces an identical status and no write.
//
// Thread-safety: plain values and pure functions.
#ifndef HF_API_CONDITION_H_
#define HF_API_CONDITION_H_

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/json_field.h"

namespace hf::api {

enum class ConditionStatus { kTrue, kFalse, kUnknown };

// "True", "False", "Unknown".
std::string_view ConditionStatusName(ConditionStatus status);

struct Condition {
  std::string type;
  ConditionStatus status = ConditionStatus::kUnknown;
  int64_t observed_generation = 0;
  std::string last_transition_time;  // RFC 3339, e.g. "2025-01-02T03:04:05Z"
  std::string reason;                // CamelCase
  std::string message;

  bool operator==(const Condition&) const = default;
};

// The condition of `type`, or nullptr.
const Condition* FindCondition(const std::vector<Condition>& conditions, std::string_view type);

// Adds `condition` or replaces the one of its type, keeping their order.
// lastTransitionTime: kept when the status is unchanged; otherwise taken
// from `condition`, or `now` if that is empty. Returns whether anything
// changed.
bool SetCondition(std::vector<Condition>* conditions, Condition condition,
                  std::chrono::system_clock::time_point now);

// RFC 3339 in UTC with whole seconds, as metav1.Time serialises.
std::string FormatTime(std::chrono::system_clock::time_point t);

nlohmann::json EncodeConditions(const std::vector<Condition>& conditions);

namespace internal {
// Decodes a metav1.Condition list; type and status are required.
std::vector<Condition> DecodeConditions(const Field& field);
}  // namespace internal

}  // namespace hf::api

#endif  // HF_API_CONDITION_H_
