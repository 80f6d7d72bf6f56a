#include "api/node_claims.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "api/names.h"

namespace hf::api {
namespace {

using Labels = std::map<std::string, std::string>;

DevicePool Pool(std::string name, std::string created, Labels selector, std::string resource = "hashfoundry.com/dev",
                bool deleting = false) {
  DevicePool p;
  p.metadata.name = std::move(name);
  p.metadata.creation_timestamp = std::move(created);
  p.metadata.deleting = deleting;
  p.spec.resource_name = std::move(resource);
  p.spec.node_selector.match_labels = std::move(selector);
  return p;
}

struct Node {
  std::string name;
  Labels labels;
};

struct ClaimCase {
  const char* name;
  std::vector<DevicePool> others;
  std::vector<Node> nodes;
  int selected;
  std::set<std::string> wanted;
  std::map<std::string, std::string> conflicts;
};

// The pool under test: created at noon, selecting gpu=yes nodes.
DevicePool Me() { return Pool("me", "2026-12-01T12:00:00Z", {{"gpu", "yes"}}); }

TEST(NodeClaimsTest, TheOlderPoolKeepsANodeAndTiesNeverFlipFlop) {
  const Labels gpu = {{"gpu", "yes"}};
  const Labels gpu_mine = {{"gpu", "yes"}, {NodeSelectionLabel("me"), "enabled"}};
  const Labels gpu_theirs = {{"gpu", "yes"}, {NodeSelectionLabel("b"), "enabled"}};
  const std::vector<ClaimCase> cases = {
      {"alone: every matching node", {}, {{"n1", gpu}, {"n2", gpu}, {"n3", {}}}, 2, {"n1", "n2"}, {}},
      {"an older rival keeps the nodes both select",
       {Pool("old", "2026-11-01T00:00:00Z", {{"gpu", "yes"}})},
       {{"n1", gpu}},
       1,
       {},
       {{"n1", "old"}}},
      {"a newer rival keeps nothing", {Pool("new", "2026-12-02T00:00:00Z", {{"gpu", "yes"}})}, {{"n1", gpu}}, 1,
       {"n1"}, {}},
      {"a rival with another resourceName is no rival",
       {Pool("old", "2026-11-01T00:00:00Z", {{"gpu", "yes"}}, "hashfoundry.com/other")},
       {{"n1", gpu}},
       1,
       {"n1"},
       {}},
      {"a rival being deleted lets go",
       {Pool("old", "2026-11-01T00:00:00Z", {{"gpu", "yes"}}, "hashfoundry.com/dev", true)},
       {{"n1", gpu}},
       1,
       {"n1"},
       {}},
      {"an older rival keeps only the nodes it selects",
       {Pool("old", "2026-11-01T00:00:00Z", {{"zone", "a"}})},
       {{"n1", {{"gpu", "yes"}, {"zone", "a"}}}, {"n2", gpu}},
       2,
       {"n2"},
       {{"n1", "old"}}},
      {"the oldest of several rivals is named",
       {Pool("older", "2026-11-02T00:00:00Z", {{"gpu", "yes"}}), Pool("oldest", "2026-11-01T00:00:00Z", {{"gpu", "yes"}})},
       {{"n1", gpu}},
       1,
       {},
       {{"n1", "oldest"}}},
      {"same second: the pool labelling the node keeps it (mine)",
       {Pool("b", "2026-12-01T12:00:00Z", {{"gpu", "yes"}})},
       {{"n1", gpu_mine}},
       1,
       {"n1"},
       {}},
      {"same second: the pool labelling the node keeps it (theirs)",
       {Pool("b", "2026-12-01T12:00:00Z", {{"gpu", "yes"}})},
       {{"n1", gpu_theirs}},
       1,
       {},
       {{"n1", "b"}}},
      {"same second, nobody labels it: the smaller name",
       {Pool("a", "2026-12-01T12:00:00Z", {{"gpu", "yes"}})},
       {{"n1", gpu}},
       1,
       {},
       {{"n1", "a"}}},
      {"the pool itself in the list is no rival", {Me()}, {{"n1", gpu}}, 1, {"n1"}, {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<const DevicePool*> pools;
    for (const auto& p : c.others) pools.push_back(&p);
    std::vector<NodeLabels> nodes;
    for (const auto& n : c.nodes) nodes.push_back({n.name, n.labels});
    const NodeClaims got = ClaimNodes(Me(), pools, nodes);
    EXPECT_EQ(got.selected, c.selected);
    EXPECT_EQ(got.wanted, c.wanted);
    EXPECT_EQ(got.conflicts, c.conflicts);
  }
}

// Two pools judging the same node from each side agree on who keeps it.
TEST(NodeClaimsTest, BothSidesAgree) {
  for (const char* b_created : {"2026-11-01T00:00:00Z", "2026-12-01T12:00:00Z", "2026-12-02T00:00:00Z"}) {
    for (bool labelled_by_b : {false, true}) {
      SCOPED_TRACE(std::string(b_created) + (labelled_by_b ? " labelled by b" : ""));
      const DevicePool me = Me();
      const DevicePool b = Pool("b", b_created, {{"gpu", "yes"}});
      Labels labels = {{"gpu", "yes"}};
      if (labelled_by_b) labels[NodeSelectionLabel("b")] = "enabled";
      const std::string n1 = "n1";
      const std::vector<NodeLabels> nodes = {{n1, labels}};
      const NodeClaims mine = ClaimNodes(me, {&me, &b}, nodes);
      const NodeClaims theirs = ClaimNodes(b, {&me, &b}, nodes);
      EXPECT_EQ(mine.wanted.size() + theirs.wanted.size(), 1u);
      EXPECT_EQ(mine.conflicts.size() + theirs.conflicts.size(), 1u);
    }
  }
}

TEST(ExtendedResourceKeeperTest, TheOldestLiveDraPoolWithTheResourceNameKeepsIt) {
  auto dra = [](std::string name, std::string created, std::string resource = "hashfoundry.com/dev",
                bool deleting = false) {
    DevicePool p = Pool(std::move(name), std::move(created), {}, std::move(resource), deleting);
    p.spec.allocation_api = AllocationApi::kDra;
    return p;
  };
  const DevicePool me = dra("me", "2026-12-01T12:00:00Z");
  const DevicePool older = dra("older", "2026-11-01T00:00:00Z");
  const DevicePool oldest_deleting = dra("gone", "2026-10-01T00:00:00Z", "hashfoundry.com/dev", true);
  const DevicePool other_resource = dra("other", "2026-10-01T00:00:00Z", "hashfoundry.com/other");
  DevicePool device_plugin = Pool("dp", "2026-10-01T00:00:00Z", {});
  const DevicePool newer = dra("newer", "2026-12-02T00:00:00Z");
  const DevicePool same_second = dra("a-same", "2026-12-01T12:00:00Z");
  const DevicePool same_second_later = dra("z-same", "2026-12-01T12:00:00Z");

  EXPECT_EQ(ExtendedResourceKeeper(me, {&me}), "");
  EXPECT_EQ(ExtendedResourceKeeper(me, {&me, &newer, &same_second_later}), "");
  EXPECT_EQ(ExtendedResourceKeeper(me, {&me, &oldest_deleting, &other_resource, &device_plugin}), "");
  EXPECT_EQ(ExtendedResourceKeeper(me, {&me, &newer, &older, &oldest_deleting}), "older");
  EXPECT_EQ(ExtendedResourceKeeper(me, {&same_second, &me}), "a-same") << "a tie: the smaller name";
  EXPECT_EQ(ExtendedResourceKeeper(older, {&me, &older, &newer}), "") << "the keeper itself";
}

}  // namespace
}  // namespace hf::api
