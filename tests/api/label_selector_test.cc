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

// apimachinery's IsQualifiedName and IsValidLabelValue, case by case.
TEST(LabelSelectorTest, LabelKeys) {
  const std::string name63(63, 'n');
  const std::string prefix253 = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                                std::string(61, 'd');
  ASSERT_EQ(prefix253.size(), 253u);
  for (const std::string& ok : {std::string("zone"), std::string("a"), std::string("Zone_1.x-Y"),
                                std::string("hashfoundry.com/custom-device"), std::string("node-role.kubernetes.io/x"),
                                std::string("a/B"), name63, prefix253 + "/" + name63}) {
    EXPECT_TRUE(ValidateLabelKey(ok).ok()) << ok << ": " << ValidateLabelKey(ok).message();
  }
  for (const std::string& bad :
       {std::string(""), std::string("/"), std::string("/a"), std::string("a/"), std::string("a/b/c"),
        std::string("-a"), std::string("a-"), std::string("a b"), std::string("zone!"), std::string("A.com/x"),
        std::string("a_b.com/x"), std::string("a..b/x"), std::string(".a/x"), name63 + "n",
        prefix253 + "d/x", std::string("a/") + name63 + "n", std::string("ä")}) {
    kube::Status st = ValidateLabelKey(bad);
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_EQ(st.reason(), kube::Reason::kInvalid) << bad;
  }
}

TEST(LabelSelectorTest, LabelValues) {
  for (const std::string& ok : {std::string(""), std::string("a"), std::string("enabled"), std::string("A.b_c-9"),
                                std::string(63, 'v')}) {
    EXPECT_TRUE(ValidateLabelValue(ok).ok()) << ok;
  }
  for (const std::string& bad : {std::string(64, 'v'), std::string("-a"), std::string("a."), std::string("a b"),
                                 std::string("a/b"), std::string("a:b")}) {
    EXPECT_FALSE(ValidateLabelValue(bad).ok()) << bad;
  }
}

TEST(LabelSelectorTest, DnsNames) {
  EXPECT_TRUE(IsDnsLabel("a-1"));
  EXPECT_TRUE(IsDnsLabel(std::string(63, 'a')));
  EXPECT_FALSE(IsDnsLabel(std::string(64, 'a')));
  EXPECT_FALSE(IsDnsLabel("a.b"));
  EXPECT_FALSE(IsDnsLabel("A"));
  EXPECT_FALSE(IsDnsLabel(""));
  EXPECT_TRUE(IsDnsSubdomain("system-node-critical"));
  EXPECT_TRUE(IsDnsSubdomain("a.b-c.d"));
  EXPECT_FALSE(IsDnsSubdomain("a..b"));
  EXPECT_FALSE(IsDnsSubdomain("a_b"));
  EXPECT_TRUE(IsDnsSubdomain(std::string(253, 'a')));
  EXPECT_FALSE(IsDnsSubdomain(std::string(127, 'a') + "." + std::string(126, 'b')));
}

}  // namespace
}  // namespace hf::api
