#include "api/condition.h"

#include <ctime>
#include <set>
#include <utility>

namespace hf::api {

std::string_view ConditionStatusName(ConditionStatus status) {
  switch (status) {
    case ConditionStatus::kTrue:
      return "True";
    case ConditionStatus::kFalse:
      return "False";
    case ConditionStatus::kUnknown:
      break;
  }
  return "Unknown";
}

const Condition* FindCondition(const std::vector<Condition>& conditions, std::string_view type) {
  for (const Condition& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

bool SetCondition(std::vector<Condition>* conditions, Condition condition,
                  std::chrono::system_clock::time_point now) {
  for (Condition& existing : *conditions) {
    if (existing.type != condition.type) continue;
    if (existing.status == condition.status) {
      condition.last_transition_time = existing.last_transition_time;
    } else if (condition.last_transition_time.empty()) {
      condition.last_transition_time = FormatTime(now);
    }
    if (existing == condition) return false;
    existing = std::move(condition);
    return true;
  }
  if (condition.last_transition_time.empty()) condition.last_transition_time = FormatTime(now);
  conditions->push_back(std::move(condition));
  return true;
}

std::string FormatTime(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[sizeof "YYYY-MM-DDTHH:MM:SSZ" + 8];  // room for years past 9999
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

nlohmann::json EncodeConditions(const std::vector<Condition>& conditions) {
  nlohmann::json out = nlohmann::json::array();
  for (const Condition& c : conditions) {
    out.push_back({{"type", c.type},
                   {"status", ConditionStatusName(c.status)},
                   {"observedGeneration", c.observed_generation},
                   {"lastTransitionTime", c.last_transition_time},
                   {"reason", c.reason},
                   {"message", c.message}});
  }
  return out;
}

namespace internal {

std::vector<Condition> DecodeConditions(const Field& field) {
  std::vector<Condition> out;
  std::set<std::string> seen;
  for (const Field& item : field.Items()) {
    if (!item.IsObject()) continue;
    Condition c;
    if (item["type"].Require()) c.type = item["type"].String().value_or("");
    if (item["status"].Require()) {
      c.status = item["status"]
                     .Enum<ConditionStatus>({{"True", ConditionStatus::kTrue},
                                             {"False", ConditionStatus::kFalse},
                                             {"Unknown", ConditionStatus::kUnknown}})
                     .value_or(ConditionStatus::kUnknown);
    }
    c.observed_generation = item["observedGeneration"].Int(0).value_or(0);
    c.last_transition_time = item["lastTransitionTime"].String().value_or("");
    c.reason = item["reason"].String().value_or("");
    c.message = item["message"].String().value_or("");
    // The list is a map keyed by type: a second entry would shadow the first.
    if (!seen.insert(c.type).second) {
      item["type"].Invalid("duplicate condition type \"" + c.type + "\"");
      continue;
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace internal
}  // namespace hf::api
