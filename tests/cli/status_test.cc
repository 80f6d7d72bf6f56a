#include "cli/status.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

namespace hf::cli {
namespace {

using Json = nlohmann::json;

std::string Read(const std::string& name) {
  std::ifstream in(std::string(HF_SOURCE_DIR) + "/tests/cli/testdata/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

PoolView Fixture() {
  Json reports = Json::parse(Read("reports.json"));
  Json nodes = Json::parse(Read("nodes.json"));
  return MakeView(Json::parse(Read("pool.json")), reports.get<std::vector<Json>>(), nodes.get<std::vector<Json>>());
}

// Compares with testdata/NAME; HF_UPDATE_GOLDEN=1 rewrites it instead.
void ExpectGolden(const std::string& name, const std::string& got) {
  const std::string path = std::string(HF_SOURCE_DIR) + "/tests/cli/testdata/" + name;
  if (std::getenv("HF_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(path) << got;
    return;
  }
  EXPECT_EQ(got, Read(name)) << "rendered differently from " << path
                             << " (HF_UPDATE_GOLDEN=1 rewrites it after a deliberate change)";
}

TEST(StatusTest, TextMatchesTheGoldenFile) { ExpectGolden("status.golden", RenderStatus(Fixture(), false)); }

TEST(StatusTest, ColourOnlyWhenAskedAndOnlyAroundCells) {
  std::string plain = RenderStatus(Fixture(), false);
  std::string color = RenderStatus(Fixture(), true);
  EXPECT_EQ(plain.find('\033'), std::string::npos);
  EXPECT_NE(color.find("\033[31mUnhealthy"), std::string::npos) << color;
  EXPECT_NE(color.find("\033[32mHealthy"), std::string::npos) << color;
  // Without its escapes the coloured text is the plain one.
  std::string stripped;
  for (size_t i = 0; i < color.size(); ++i) {
    if (color[i] == '\033') {
      i = color.find('m', i);
      continue;
    }
    stripped += color[i];
  }
  EXPECT_EQ(stripped, plain);
}

TEST(StatusTest, ReportsSortedByNodeAndANodeWithoutItsObjectIsGone) {
  PoolView v = Fixture();
  ASSERT_EQ(v.reports.size(), 2u);
  EXPECT_EQ(v.reports[0].spec.node, "worker-1");
  EXPECT_EQ(v.report_json[0]["spec"]["node"], "worker-1");
  EXPECT_EQ(v.nodes.at("worker-2").allocatable, 2);
  EXPECT_FALSE(v.nodes.at("worker-3").capacity.has_value());

  Json nodes = Json::parse(Read("nodes.json"));
  nodes.erase(0);  // worker-1's Node deleted; its report remains
  PoolView gone = MakeView(Json::parse(Read("pool.json")), Json::parse(Read("reports.json")).get<std::vector<Json>>(),
                           nodes.get<std::vector<Json>>());
  EXPECT_FALSE(gone.nodes.at("worker-1").found);
  EXPECT_TRUE(std::regex_search(RenderStatus(gone, false), std::regex("\n  worker-1 +gone +0.1.0 ")))
      << RenderStatus(gone, false);

  Json doc = StatusJson(v);
  EXPECT_EQ(doc["pool"]["metadata"]["name"], "custom-device");
  EXPECT_EQ(doc["nodes"]["worker-2"]["allocatable"], 2);
  EXPECT_TRUE(doc["nodes"]["worker-3"]["capacity"].is_null());
}

TEST(StatusTest, APoolWhoseSpecDoesNotDecodeStillShowsItsStatus) {
  Json pool = Json::parse(Read("pool.json"));
  pool["spec"]["discovery"] = "not an object";
  PoolView v = MakeView(pool, {}, {});
  EXPECT_EQ(v.pool.metadata.name, "custom-device");
  EXPECT_EQ(v.pool.spec.resource_name, "hashfoundry.com/custom-device");
  EXPECT_EQ(v.pool.status.devices.total, 8);
  EXPECT_NE(RenderStatus(v, false).find("Canary"), std::string::npos);
}

}  // namespace
}  // namespace hf::cli
