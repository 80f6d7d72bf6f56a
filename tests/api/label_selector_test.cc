#include "api/label_selector.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace hf::api {
namespace {

using Labels = std::map<std::string, std::string>;

LabelSelectorRequirement Req(std::string key, SelectorOperator op, std::vector<std::string> values = {}) {
  return {std::move(key), op, std::move(values)};
}

struct MatchCase {
  const char* name;
  LabelSelector selector;
  Labels labels;
  bool want;
};

TEST(LabelSelectorTest, MatchesLikeMetav1) {
  const Labels node = {{"hashfoundry.com/custom-device", "enabled"}, {"zone", "a"}, {"gpu", ""}};
  const std::vector<MatchCase> cases = {
      {"empty selects everything", {}, node, true},
      {"empty selects unlabelled", {}, {}, true},
      {"matchLabels equal", {{{"zone", "a"}}, {}}, node, true},
      {"matchLabels other value", {{{"zone", "b"}}, {}}, node, false},
      {"matchLabels missing key", {{{"rack", "1"}}, {}}, node, false},
      {"matchLabels empty value", {{{"gpu", ""}}, {}}, node, true},
      {"every matchLabel must hold", {{{"zone", "a"}, {"rack", "1"}}, {}}, node, false},
      {"In hit", {{}, {Req("zone", SelectorOperator::kIn, {"b", "a"})}}, node, true},
      {"In miss", {{}, {Req("zone", SelectorOperator::kIn, {"b", "c"})}}, node, false},
      {"In missing key", {{}, {Req("rack", SelectorOperator::kIn, {"1"})}}, node, false},
      {"NotIn hit", {{}, {Req("zone", SelectorOperator::kNotIn, {"a"})}}, node, false},
      {"NotIn miss", {{}, {Req("zone", SelectorOperator::kNotIn, {"b"})}}, node, true},
      {"NotIn missing key", {{}, {Req("rack", SelectorOperator::kNotIn, {"1"})}}, node, true},
      {"Exists present", {{}, {Req("gpu", SelectorOperator::kExists)}}, node, true},
      {"Exists absent", {{}, {Req("rack", SelectorOperator::kExists)}}, node, false},
      {"DoesNotExist absent", {{}, {Req("rack", SelectorOperator::kDoesNotExist)}}, node, true},
      {"DoesNotExist present", {{}, {Req("zone", SelectorOperator::kDoesNotExist)}}, node, false},
      {"labels and expressions all hold",
       {{{"hashfoundry.com/custom-device", "enabled"}},
        {Req("zone", SelectorOperator::kIn, {"a"}), Req("rack", SelectorOperator::kDoesNotExist)}},
       node,
       true},
      {"one expression fails",
       {{{"hashfoundry.com/custom-device", "enabled"}},
        {Req("zone", SelectorOperator::kIn, {"a"}), Req("gpu", SelectorOperator::kDoesNotExist)}},
       node,
       false},
  };
  for (const MatchCase& c : cases) {
    EXPECT_EQ(c.selector.Matches(c.labels), c.want) << c.name;
  }
}

TEST(LabelSelectorTest, ToSelectorStringSortsByKey) {
  LabelSelector s;
  s.match_labels = {{"a", "b"}};
  s.match_expressions = {Req("e", SelectorOperator::kExists), Req("d", SelectorOperator::kDoesNotExist),
                         Req("c", SelectorOperator::kIn, {"y", "x"})};
  EXPECT_EQ(s.ToSelectorString(), "a=b,c in (x,y),!d,e");
}

TEST(LabelSelectorTest, ToSelectorStringForms) {
  EXPECT_EQ(LabelSelector{}.ToSelectorString(), "");
  LabelSelector s;
  s.match_labels = {{"hashfoundry.com/custom-device", "enabled"}, {"empty", ""}};
  s.match_expressions = {Req("zone", SelectorOperator::kNotIn, {"b", "a", "b"})};
  EXPECT_EQ(s.ToSelectorString(), "empty=,hashfoundry.com/custom-device=enabled,zone notin (a,b)");
}

TEST(LabelSelectorTest, Empty) {
  EXPECT_TRUE(LabelSelector{}.Empty());
  EXPECT_FALSE((LabelSelector{{{"a", "b"}}, {}}).Empty());
  EXPECT_FALSE((LabelSelector{{}, {Req("a", SelectorOperator::kExists)}}).Empty());
}

}  // namespace
}  // namespace hf::api
