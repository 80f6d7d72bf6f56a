// kubectl devicepool rollout history|undo: revisions from ControllerRevisions
// beside the rollout's status, the revision undo picks, and the only spec
// change it makes (the image).
#include "cli/rollout_history.h"

#include <gtest/gtest.h>

namespace hf::cli {
namespace {

using Json = nlohmann::json;

Json Template(const std::string& hash, const std::string& image, const std::string& interval = "30s") {
  return {{"metadata", {{"annotations", {{"hashfoundry.com/template-hash", hash}}}, {"creationTimestamp", nullptr}}},
          {"spec",
           {{"containers",
             {{{"name", "agent"},
               {"image", image},
               {"args", {"--pool=p", "--health-interval=" + interval, "--revision=$(AGENT_REVISION)"}}}}}}}};
}

Json ControllerRevision(int64_t n, const Json& tmpl) {
  Json data = {{"spec", {{"template", tmpl}}}};
  data["spec"]["template"]["$patch"] = "replace";
  return {{"metadata", {{"name", "cr-" + std::to_string(n)}, {"creationTimestamp", "2026-12-0" + std::to_string(n) + "T00:00:00Z"}}},
          {"revision", n},
          {"data", data}};
}

Json Pod(const std::string& hash) {
  return {{"metadata", {{"annotations", {{"hashfoundry.com/template-hash", hash}}}}}};
}

api::RolloutStatus Rollout(const std::string& current, const std::string& update, const std::string& failed = "",
                           bool done = true) {
  api::RolloutStatus r;
  r.current_revision = current;
  r.update_revision = update;
  r.failed_revision = failed;
  if (done) r.completion_time = "2026-12-06T00:00:00Z";
  return r;
}

TEST(RolloutHistoryTest, RevisionsInOrderWithTheirImageNodesAndState) {
  auto revs = Revisions({ControllerRevision(3, Template("h3", "agent:v3")), ControllerRevision(1, Template("h1", "agent:v1")),
                         ControllerRevision(2, Template("h2", "agent:v2"))},
                        {Pod("h2"), Pod("h2"), Pod("h1")}, Rollout("h2", "h3", "h3"));
  ASSERT_EQ(revs.size(), 3u);
  EXPECT_EQ(revs[0].number, 1);
  EXPECT_EQ(revs[1].image, "agent:v2");
  EXPECT_EQ(revs[1].nodes, 2);
  EXPECT_EQ(revs[1].state, "current");
  EXPECT_EQ(revs[2].state, "failed");
  EXPECT_FALSE(revs[0].pod_template.contains("$patch"));
  std::string text = RenderHistory("p", revs, "h3");
  EXPECT_NE(text.find("REVISION  TEMPLATE  IMAGE     NODES  STATE         CREATED"), std::string::npos) << text;
  EXPECT_NE(text.find("3         h3        agent:v3  0      failed, spec"), std::string::npos) << text;

  revs = Revisions({ControllerRevision(1, Template("h1", "agent:v1")), ControllerRevision(2, Template("h2", "agent:v2"))},
                   {Pod("h1"), Pod("h2")}, Rollout("h1", "h2", "", /*done=*/false));
  EXPECT_EQ(revs[1].state, "rolling out");
}

TEST(RolloutHistoryTest, UndoGoesToTheLastGoodDuringARolloutElseThePrevious) {
  auto revs = Revisions({ControllerRevision(1, Template("h1", "agent:v1")), ControllerRevision(2, Template("h2", "agent:v2")),
                         ControllerRevision(3, Template("h3", "agent:v3"))},
                        {}, Rollout("h2", "h3", "", false));
  auto t = UndoTarget(revs, "h3", Rollout("h2", "h3", "", false), std::nullopt);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->hash, "h2");
  // Settled on h3: the newest other one.
  t = UndoTarget(revs, "h3", Rollout("h3", "h3"), std::nullopt);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->hash, "h2");
  t = UndoTarget(revs, "h3", Rollout("h3", "h3"), 1);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->hash, "h1");
  EXPECT_FALSE(UndoTarget(revs, "h3", Rollout("h3", "h3"), 7).ok());
  EXPECT_FALSE(UndoTarget({revs[2]}, "h3", Rollout("h3", "h3"), std::nullopt).ok());
}

TEST(RolloutHistoryTest, UndoChangesOnlyTheImageAndRefusesMore) {
  auto revs = Revisions({ControllerRevision(1, Template("h1", "agent:v1")), ControllerRevision(2, Template("h2", "agent:v2")),
                         ControllerRevision(3, Template("h3", "agent:v2", "10s"))},
                        {}, Rollout("h2", "h2"));
  auto p = UndoPatch(revs[1], revs[0]);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, (Json{{"spec", {{"agent", {{"image", "agent:v1"}}}}}}));
  p = UndoPatch(revs[2], revs[0]);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("more than the image (first at /spec/containers/0/args/1)"), std::string::npos)
      << p.status().message();
  EXPECT_FALSE(UndoPatch(revs[1], revs[1]).ok());
}

}  // namespace
}  // namespace hf::cli
