// YAML to JSON as kubectl reads manifests: types of plain and quoted
// scalars, several documents, aliases, and a clear error for bad YAML.
#include "kube/yaml_json.h"

#include <gtest/gtest.h>

namespace hf::kube {
namespace {

TEST(YamlJsonTest, ScalarsAreTypedAsKubectlTypesThem) {
  auto docs = YamlDocumentsToJson("a: 1\nb: \"1\"\nc: true\nd: 'true'\ne: 1.5\nf: ~\ng: 1.36\nh: busybox:1.36\n");
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  ASSERT_EQ(docs->size(), 1u);
  const auto& j = (*docs)[0];
  EXPECT_EQ(j["a"], 1);
  EXPECT_EQ(j["b"], "1");
  EXPECT_EQ(j["c"], true);
  EXPECT_EQ(j["d"], "true");
  EXPECT_EQ(j["e"], 1.5);
  EXPECT_TRUE(j["f"].is_null());
  EXPECT_EQ(j["h"], "busybox:1.36");
}

TEST(YamlJsonTest, DocumentsInOrderEmptyOnesSkippedAliasesResolved) {
  auto docs = YamlDocumentsToJson("---\n# only a comment\n---\nx: &s |\n  line\ny: *s\n---\nz: [1, two]\n");
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0]["y"], "line\n");
  EXPECT_EQ((*docs)[1]["z"][1], "two");
}

TEST(YamlJsonTest, BadYamlIsAnErrorWithItsPlace) {
  auto docs = YamlDocumentsToJson("a: [1, 2\nb: 3\n");
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.status().ToString().find("YAML: "), std::string::npos) << docs.status().ToString();
  EXPECT_NE(docs.status().ToString().find("line"), std::string::npos) << docs.status().ToString();
}

}  // namespace
}  // namespace hf::kube
