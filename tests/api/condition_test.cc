#include "api/condition.h"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

namespace hf::api {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

constexpr system_clock::time_point kT0 = system_clock::time_point(seconds(1700000000));  // 2023-11-14T22:13:20Z
constexpr system_clock::time_point kT1 = kT0 + seconds(60);

Condition Ready(ConditionStatus status, const char* reason) {
  Condition c;
  c.type = "Ready";
  c.status = status;
  c.reason = reason;
  c.message = "m";
  c.observed_generation = 1;
  return c;
}

TEST(ConditionTest, FormatTime) {
  EXPECT_EQ(FormatTime(system_clock::time_point()), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatTime(kT0), "2023-11-14T22:13:20Z");
}

TEST(ConditionTest, SetAddsWithNow) {
  std::vector<Condition> conditions;
  EXPECT_TRUE(SetCondition(&conditions, Ready(ConditionStatus::kFalse, "Progressing"), kT0));
  ASSERT_EQ(conditions.size(), 1u);
  EXPECT_EQ(conditions[0].last_transition_time, "2023-11-14T22:13:20Z");
  EXPECT_EQ(FindCondition(conditions, "Ready"), &conditions[0]);
  EXPECT_EQ(FindCondition(conditions, "Degraded"), nullptr);
}

TEST(ConditionTest, SameStatusKeepsTransitionTime) {
  std::vector<Condition> conditions;
  ASSERT_TRUE(SetCondition(&conditions, Ready(ConditionStatus::kFalse, "Progressing"), kT0));
  // Nothing new: no change, so the caller sends no write.
  EXPECT_FALSE(SetCondition(&conditions, Ready(ConditionStatus::kFalse, "Progressing"), kT1));
  // A new reason is a change, but not a transition.
  EXPECT_TRUE(SetCondition(&conditions, Ready(ConditionStatus::kFalse, "AgentsNotReady"), kT1));
  ASSERT_EQ(conditions.size(), 1u);
  EXPECT_EQ(conditions[0].reason, "AgentsNotReady");
  EXPECT_EQ(conditions[0].last_transition_time, FormatTime(kT0));
}

TEST(ConditionTest, StatusChangeMovesTransitionTime) {
  std::vector<Condition> conditions;
  ASSERT_TRUE(SetCondition(&conditions, Ready(ConditionStatus::kFalse, "Progressing"), kT0));
  Condition degraded = Ready(ConditionStatus::kFalse, "NoNodes");
  degraded.type = "Degraded";
  ASSERT_TRUE(SetCondition(&conditions, degraded, kT0));
  EXPECT_TRUE(SetCondition(&conditions, Ready(ConditionStatus::kTrue, "AllNodesReady"), kT1));
  ASSERT_EQ(conditions.size(), 2u);
  EXPECT_EQ(conditions[0].type, "Ready");  // order kept
  EXPECT_EQ(conditions[0].status, ConditionStatus::kTrue);
  EXPECT_EQ(conditions[0].last_transition_time, FormatTime(kT1));
  EXPECT_EQ(conditions[1].last_transition_time, FormatTime(kT0));
}

TEST(ConditionTest, ExplicitTransitionTimeWinsOnTransition) {
  std::vector<Condition> conditions;
  Condition c = Ready(ConditionStatus::kTrue, "AllNodesReady");
  c.last_transition_time = "2020-01-01T00:00:00Z";
  ASSERT_TRUE(SetCondition(&conditions, c, kT1));
  EXPECT_EQ(conditions[0].last_transition_time, "2020-01-01T00:00:00Z");
}

TEST(ConditionTest, Encode) {
  std::vector<Condition> conditions;
  ASSERT_TRUE(SetCondition(&conditions, Ready(ConditionStatus::kUnknown, "Starting"), kT0));
  nlohmann::json want = nlohmann::json::parse(R"([{"type": "Ready", "status": "Unknown", "observedGeneration": 1,
      "lastTransitionTime": "2023-11-14T22:13:20Z", "reason": "Starting", "message": "m"}])");
  EXPECT_EQ(EncodeConditions(conditions), want);
  EXPECT_EQ(ConditionStatusName(ConditionStatus::kTrue), "True");
  EXPECT_EQ(ConditionStatusName(ConditionStatus::kFalse), "False");
}

}  // namespace
}  // namespace hf::api
