// Host clean-up: which answers about the pool remove its files, which files
// those are, and removing them; and what PoolWatch keeps of its pool.
#include "agent/host_cleanup.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "agent/pool_watch.h"
#include "tests/agent/testing/temp_dir.h"

namespace hf::agent {
namespace {

using testing::TempDir;

constexpr char kUid[] = "5b7c1e2a-0000-4000-8000-000000000001";

nlohmann::json Pool(const std::string& uid, bool deleting) {
  nlohmann::json pool = {{"apiVersion", "hashfoundry.com/v1alpha1"},
                         {"kind", "DevicePool"},
                         {"metadata", {{"name", "gpu"}, {"uid", uid}, {"finalizers", {"hashfoundry.com/node-labels"}}}}};
  if (deleting) pool["metadata"]["deletionTimestamp"] = "2026-12-06T03:00:00Z";
  return pool;
}

kube::Status NotFound() { return kube::Status(kube::Reason::kNotFound, "devicepools \"gpu\" not found", 404); }
kube::Status Forbidden() { return kube::Status(kube::Reason::kForbidden, "cannot get devicepools", 403); }
kube::Status NotWatched() { return kube::Status(kube::Reason::kUnknown, "not listed yet"); }

TEST(DecideHostCleanupTest, APoolThatStillExistsKeepsItsFiles) {
  // A restart or an upgrade: the same pool, not being deleted.
  HostCleanupDecision d = DecideHostCleanup(Pool(kUid, false), Pool(kUid, false), kUid, false);
  EXPECT_FALSE(d.remove);
  EXPECT_NE(d.reason.find("still exists"), std::string::npos) << d.reason;
  // Started without --pool-uid: the pool of that name is taken as its own.
  EXPECT_FALSE(DecideHostCleanup(Pool(kUid, false), NotWatched(), "", false).remove);
}

TEST(DecideHostCleanupTest, ADeletedPoolRemovesThem) {
  HostCleanupDecision gone = DecideHostCleanup(NotFound(), Pool(kUid, false), kUid, false);
  EXPECT_TRUE(gone.remove);
  EXPECT_EQ(gone.reason, "the pool is gone");
  HostCleanupDecision deleting = DecideHostCleanup(Pool(kUid, true), NotWatched(), kUid, false);
  EXPECT_TRUE(deleting.remove);
  EXPECT_EQ(deleting.reason, "the pool is being deleted");
  EXPECT_TRUE(DecideHostCleanup(Pool(kUid, true), NotWatched(), "", false).remove);
}

TEST(DecideHostCleanupTest, APoolRecreatedUnderTheSameNameIsAnotherPool) {
  HostCleanupDecision d = DecideHostCleanup(Pool("another-uid", false), NotWatched(), kUid, false);
  EXPECT_TRUE(d.remove);
  EXPECT_NE(d.reason.find("another-uid"), std::string::npos) << d.reason;
}

// The pool's deletion garbage-collects the agent's binding: the read at
// shutdown is Forbidden, and what the watch saw decides.
TEST(DecideHostCleanupTest, WithoutAnAnswerTheWatchDecides) {
  HostCleanupDecision d = DecideHostCleanup(Forbidden(), Pool(kUid, true), kUid, false);
  EXPECT_TRUE(d.remove);
  EXPECT_NE(d.reason.find("being deleted (as last watched; Forbidden"), std::string::npos) << d.reason;
  EXPECT_TRUE(DecideHostCleanup(Forbidden(), NotFound(), kUid, false).remove);
  EXPECT_TRUE(DecideHostCleanup(Forbidden(), Pool("another-uid", false), kUid, false).remove);
  HostCleanupDecision live = DecideHostCleanup(Forbidden(), Pool(kUid, false), kUid, false);
  EXPECT_FALSE(live.remove);
  EXPECT_NE(live.reason.find("still exists"), std::string::npos) << live.reason;
  EXPECT_NE(live.reason.find("(as last watched"), std::string::npos) << live.reason;
}

// A read that answered is newer than anything watched.
TEST(DecideHostCleanupTest, AnAnswerOverridesTheWatch) {
  EXPECT_FALSE(DecideHostCleanup(Pool(kUid, false), NotFound(), "", false).remove);
  EXPECT_TRUE(DecideHostCleanup(NotFound(), Pool(kUid, false), kUid, false).remove);
}

TEST(DecideHostCleanupTest, NotKnowingKeepsTheFiles) {
  for (kube::Reason r : {kube::Reason::kForbidden, kube::Reason::kUnauthorized, kube::Reason::kTransport,
                         kube::Reason::kInternalError, kube::Reason::kTimeout}) {
    HostCleanupDecision d = DecideHostCleanup(kube::Status(r, "no"), NotWatched(), kUid, false);
    EXPECT_FALSE(d.remove) << kube::ReasonName(r);
    EXPECT_NE(d.reason.find("cannot read the pool"), std::string::npos) << d.reason;
  }
}

TEST(DecideHostCleanupTest, AnotherAgentServingTheResourceKeepsTheFiles) {
  HostCleanupDecision d = DecideHostCleanup(NotFound(), NotWatched(), kUid, /*socket_taken=*/true);
  EXPECT_FALSE(d.remove);
  EXPECT_NE(d.reason.find("another agent"), std::string::npos) << d.reason;
  EXPECT_FALSE(DecideHostCleanup(Pool("another-uid", false), NotWatched(), kUid, true).remove);
}

// What PoolWatch makes of the reflector's lists and events.
TEST(PoolWatchTest, FollowsListsAndEvents) {
  PoolWatch w("gpu");
  EXPECT_EQ(w.Last().status().reason(), kube::Reason::kUnknown) << "nothing listed yet";
  w.BeginList();
  w.ListItem(Pool(kUid, false));
  w.EndList();
  ASSERT_TRUE(w.Last().ok());
  EXPECT_EQ(w.Last()->at("metadata").at("uid"), kUid);
  w.OnEvent(kube::WatchEventType::kModified, Pool(kUid, true));
  EXPECT_TRUE(w.Last()->at("metadata").contains("deletionTimestamp"));
  nlohmann::json other = Pool("x", false);
  other["metadata"]["name"] = "other";
  w.OnEvent(kube::WatchEventType::kModified, std::move(other));
  EXPECT_TRUE(w.Last()->at("metadata").contains("deletionTimestamp")) << "another pool's event is ignored";
  w.OnEvent(kube::WatchEventType::kDeleted, Pool(kUid, true));
  EXPECT_TRUE(kube::IsNotFound(w.Last().status()));
  w.OnEvent(kube::WatchEventType::kAdded, Pool("another-uid", false));
  EXPECT_EQ(w.Last()->at("metadata").at("uid"), "another-uid");
  // A list without the pool: gone. A list that failed part way changes
  // nothing.
  w.BeginList();
  w.EndList();
  EXPECT_TRUE(kube::IsNotFound(w.Last().status()));
  w.BeginList();
  w.ListItem(Pool(kUid, false));
  w.AbortList();
  EXPECT_TRUE(kube::IsNotFound(w.Last().status()));
}

TEST(HostTracesOfTest, SimulatedDevicesAndTheCdiSpec) {
  Config c;
  c.discovery = DiscoveryMode::kSimulated;
  c.simulated_count = 2;
  c.simulated_prefix = "dev";
  c.dev_root = "/var/lib/hashfoundry/devices/gpu";
  c.cdi = true;
  c.cdi_dir = "/var/run/cdi";
  c.resource_name = "example.com/gpu";
  HostTraces t = HostTracesOf(c);
  EXPECT_EQ(t.files, (std::vector<std::string>{"/var/lib/hashfoundry/devices/gpu/dev-0",
                                               "/var/lib/hashfoundry/devices/gpu/dev-1",
                                               "/var/run/cdi/example.com-gpu.json"}));
  EXPECT_EQ(t.dirs, (std::vector<std::string>{"/var/lib/hashfoundry/devices/gpu"}));
}

TEST(HostTracesOfTest, RealDevicesAreNeverTouched) {
  for (DiscoveryMode mode : {DiscoveryMode::kPaths, DiscoveryMode::kPci}) {
    Config c;
    c.discovery = mode;
    c.dev_root = "/dev";
    HostTraces t = HostTracesOf(c);
    EXPECT_TRUE(t.files.empty());
    EXPECT_TRUE(t.dirs.empty());
    c.cdi = true;
    EXPECT_EQ(HostTracesOf(c).files, (std::vector<std::string>{"/var/run/cdi/hashfoundry.com-custom-device.json"}));
    EXPECT_TRUE(HostTracesOf(c).dirs.empty());
  }
}

TEST(RemoveHostTracesTest, RemovesTheFilesAndTheDirectoryOnceEmpty) {
  TempDir t;
  t.WriteFile("devices/gpu/dev-0", "x");
  t.WriteFile("devices/gpu/dev-1", "x");
  t.WriteFile("cdi/example.com-gpu.json", "{}");
  t.WriteFile("cdi/other.json", "{}");
  HostTraces traces{{t.Path("devices/gpu/dev-0"), t.Path("devices/gpu/dev-1"), t.Path("devices/gpu/dev-2"),
                     t.Path("cdi/example.com-gpu.json")},
                    {t.Path("devices/gpu")}};
  // dev-2 never existed: not an error.
  EXPECT_EQ(RemoveHostTraces(traces), 4);
  EXPECT_FALSE(t.Exists("devices/gpu"));
  EXPECT_TRUE(t.Exists("devices"));
  EXPECT_FALSE(t.Exists("cdi/example.com-gpu.json"));
  EXPECT_TRUE(t.Exists("cdi/other.json")) << "another resource's spec";
}

TEST(RemoveHostTracesTest, ADirectoryWithOtherFilesStays) {
  TempDir t;
  t.WriteFile("devices/gpu/dev-0", "x");
  t.WriteFile("devices/gpu/notes.txt", "someone else's");
  EXPECT_EQ(RemoveHostTraces({{t.Path("devices/gpu/dev-0")}, {t.Path("devices/gpu")}}), 1);
  EXPECT_FALSE(t.Exists("devices/gpu/dev-0"));
  EXPECT_TRUE(t.Exists("devices/gpu/notes.txt"));
}

// Without an answer from the API server (here nothing listens) the files
// stay: a restart with the API server down must not lose them.
TEST(CleanUpHostIfPoolDeletedTest, NoAnswerKeepsTheFiles) {
  TempDir t;
  t.WriteFile("kubeconfig", R"(apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: abc}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
)");
  t.WriteFile("dev/hashfoundry-device-0", "x");
  Config c;
  c.pool = "gpu";
  c.pool_uid = kUid;
  c.kubeconfig = t.Path("kubeconfig");
  c.simulated_count = 1;
  c.dev_root = t.Path("dev");
  c.kubelet_dir = t.Path("kubelet");
  CleanUpHostIfPoolDeleted(c, kube::Status(kube::Reason::kUnknown, "not watched"));
  EXPECT_TRUE(t.Exists("dev/hashfoundry-device-0"));
}

}  // namespace
}  // namespace hf::agent
