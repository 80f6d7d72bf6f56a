#include "operator/options.h"

#include <gtest/gtest.h>

namespace hf::controller {
namespace {

TEST(OptionsTest, ParsesTheChartsFlags) {
  auto o = ParseOptions({"--namespace=ops", "--leader-elect=true", "--agent-image=img:1", "--http-address=:9090",
                         "--agent-cluster-role=role", "--qps=20", "--burst=40", "--identity=pod-1"});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->config.namespace_, "ops");
  EXPECT_TRUE(o->leader_elect);
  EXPECT_EQ(o->config.agent_image, "img:1");
  EXPECT_EQ(o->config.agent_cluster_role, "role");
  EXPECT_EQ(o->qps, 20);
  EXPECT_EQ(o->identity, "pod-1");
  auto defaults = ParseOptions({});
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_EQ(defaults->qps, 0) << "no client-side limit unless asked for";
  auto zero = ParseOptions({"--qps=0"});
  ASSERT_TRUE(zero.ok()) << zero.status().ToString();
  EXPECT_EQ(zero->qps, 0);
}

TEST(OptionsTest, SeparateValuesAndBareBooleans) {
  auto o = ParseOptions({"--namespace", "ops", "--leader-elect", "--agent-image", "img:2", "--qps", "2.5",
                         "--max-concurrent-reconciles", "8", "--identity", "pod-2"});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->config.namespace_, "ops");
  EXPECT_TRUE(o->leader_elect);
  EXPECT_EQ(o->config.agent_image, "img:2");
  EXPECT_EQ(o->qps, 2.5);
  EXPECT_EQ(o->max_concurrent_reconciles, 8);
  EXPECT_EQ(o->identity, "pod-2");
  auto off = ParseOptions({"--leader-elect", "--leader-elect=false"});
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_FALSE(off->leader_elect);
}

TEST(OptionsTest, HelpAndVersionAreFlagsToo) {
  for (const char* flag : {"--help", "-h"}) {
    auto o = ParseOptions({flag});
    ASSERT_TRUE(o.ok()) << flag << ": " << o.status().ToString();
    EXPECT_TRUE(o->help) << flag;
  }
  auto v = ParseOptions({"--version"});
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->version);
  EXPECT_FALSE(v->help);
  EXPECT_NE(Usage().find("--help"), std::string::npos);
}

TEST(OptionsTest, BadInputNamesTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string want;
  } cases[] = {
      {{"--nope=1"}, "unknown flag --nope"},
      {{"--qps=fast"}, "--qps"},
      {{"--qps=-1"}, "--qps"},
      {{"--burst=0"}, "--burst"},
      {{"--leader-elect=maybe"}, "--leader-elect"},
      {{"--namespace="}, "--namespace"},
      {{"--namespace"}, "--namespace: needs a value"},
      {{"--burst", "0"}, "--burst"},
      {{"--label-concurrency=x"}, "--label-concurrency"},
      {{"--leader-elect", "true"}, "unexpected argument"},
      {{"stray"}, "unexpected argument"},
      // Refused while parsing, as the agent does, not at startup.
      {{"--log-level=loud"}, "--log-level"},
      {{"--log-format=xml"}, "--log-format"},
      {{"--http-address=localhost:8080"}, "--http-address"},
      {{"--http-address=:99999"}, "--http-address"},
  };
  for (const auto& c : cases) {
    auto o = ParseOptions(c.args);
    ASSERT_FALSE(o.ok()) << c.want;
    EXPECT_TRUE(kube::IsInvalid(o.status()));
    EXPECT_NE(o.status().message().find(c.want), std::string::npos) << o.status().message();
  }
}

}  // namespace
}  // namespace hf::controller
