// kubectl devicepool test: the sample pods as the command creates them, and
// the judgement of what they printed.
#include "cli/test_pods.h"

#include <gtest/gtest.h>

namespace hf::cli {
namespace {

using Json = nlohmann::json;

constexpr char kResource[] = "example.com/widget";

Json Ran(const std::string& name, const std::string& phase, int want) {
  return {{"metadata", {{"name", name}}},
          {"spec",
           {{"nodeName", "n1"},
            {"containers", {{{"name", "test"}, {"resources", {{"limits", {{kResource, want}}}}}}}}}},
          {"status", {{"phase", phase}}}};
}

std::string Log(const std::string& ids, const std::vector<std::string>& device_lines) {
  std::string log = "HASHFOUNDRY_DEVICE_COUNT=x\nHASHFOUNDRY_DEVICE_IDS=" + ids + "\n";
  for (const auto& l : device_lines) log += l + "\n";
  return log;
}

TEST(TestPodsTest, TheSamplePodsAskForThePoolsResource) {
  auto pods = TestPods(kResource, "");
  ASSERT_TRUE(pods.ok()) << pods.status().ToString();
  ASSERT_EQ(pods->size(), 2u);
  EXPECT_EQ((*pods)[0]["metadata"]["name"], "device-test-single");
  EXPECT_EQ(Requested((*pods)[0], kResource), 1);
  EXPECT_EQ(Requested((*pods)[1], kResource), 2);
  EXPECT_EQ(Requested((*pods)[0], kSampleResource), 0) << "the sample's resource is replaced";
  const Json& c = (*pods)[1]["spec"]["containers"][0];
  EXPECT_EQ(c["image"], "busybox:1.36");
  EXPECT_EQ((*pods)[1]["spec"]["restartPolicy"], "Never");
  // The alias *check resolves to the same script.
  ASSERT_TRUE(c["args"][0].is_string());
  EXPECT_EQ(c["args"][0], (*pods)[0]["spec"]["containers"][0]["args"][0]);
  EXPECT_NE(c["args"][0].get<std::string>().find("HASHFOUNDRY_DEVICE_${i}_PATH"), std::string::npos);

  pods = TestPods(kResource, "registry.example/tools:1");
  ASSERT_TRUE(pods.ok());
  EXPECT_EQ((*pods)[0]["spec"]["containers"][0]["image"], "registry.example/tools:1");
}

TEST(TestPodsTest, PodsThatGotTheirDevicesOnceEachPass) {
  auto results = JudgeTestPods(
      {Ran("single", "Succeeded", 1), Ran("multi", "Succeeded", 2)},
      {{"single", Log("d-0", {"device d-0: /dev/d-0 present"})},
       {"multi", Log("d-1,d-2", {"device d-1: /dev/d-1 present", "device d-2: /dev/d-2 present"})}},
      kResource);
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) EXPECT_TRUE(r.problems.empty()) << r.name << ": " << r.problems[0];
  EXPECT_EQ(results[1].ids, (std::vector<std::string>{"d-1", "d-2"}));
  std::string text = RenderTestReport("pool", results);
  EXPECT_NE(text.find("PASS multi on n1: asked for 2, got d-1,d-2"), std::string::npos) << text;
  EXPECT_NE(text.find("test passed"), std::string::npos) << text;
}

TEST(TestPodsTest, EachFailureIsNamed) {
  struct Case {
    const char* name;
    Json pod;
    std::map<std::string, std::string> logs;
    const char* problem;
  };
  Json pending = Ran("p", "Pending", 1);
  pending["status"]["conditions"] = {{{"type", "PodScheduled"}, {"status", "False"}, {"message", "0/3 nodes: Insufficient"}}};
  const std::vector<Case> cases = {
      {"a file missing", Ran("p", "Failed", 1), {{"p", Log("d-0", {"device d-0: /dev/d-0 MISSING"})}}, "MISSING"},
      {"fewer devices than asked", Ran("p", "Succeeded", 2), {{"p", Log("d-0", {"device d-0: /dev/d-0 present"})}},
       "asked for 2 devices, got 1"},
      {"never scheduled", pending, {}, "still Pending after --timeout: 0/3 nodes: Insufficient"},
      {"no log", Ran("p", "Succeeded", 1), {}, "no log"},
      {"never ended", Ran("p", "Running", 1), {}, "still Running after --timeout"},
  };
  for (const auto& c : cases) {
    auto results = JudgeTestPods({c.pod}, c.logs, kResource);
    ASSERT_EQ(results.size(), 1u) << c.name;
    std::string all;
    for (const auto& p : results[0].problems) all += p + "\n";
    EXPECT_NE(all.find(c.problem), std::string::npos) << c.name << ":\n" << all;
    EXPECT_NE(RenderTestReport("pool", results).find("1 of 1 test pods failed"), std::string::npos) << c.name;
  }
}

TEST(TestPodsTest, ADeviceGivenToTwoPodsFailsTheSecond) {
  auto results = JudgeTestPods({Ran("a", "Succeeded", 1), Ran("b", "Succeeded", 1)},
                               {{"a", Log("d-0", {"device d-0: /dev/d-0 present"})},
                                {"b", Log("d-0", {"device d-0: /dev/d-0 present"})}},
                               kResource);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].problems.empty());
  ASSERT_EQ(results[1].problems.size(), 1u);
  EXPECT_EQ(results[1].problems[0], "device d-0 was also given to a");

  // The same id on two nodes is two devices.
  Json elsewhere = Ran("b", "Succeeded", 1);
  elsewhere["spec"]["nodeName"] = "n2";
  results = JudgeTestPods({Ran("a", "Succeeded", 1), elsewhere},
                          {{"a", Log("d-0", {"device d-0: /dev/d-0 present"})},
                           {"b", Log("d-0", {"device d-0: /dev/d-0 present"})}},
                          kResource);
  EXPECT_TRUE(results[1].problems.empty()) << results[1].problems[0];
}

}  // namespace
}  // namespace hf::cli
