// What kube::FakeClient promises, written once and run twice: against the
// fake (fake_client_test.cc, a unit test) and against a real kube-apiserver
// (tests/kube/integration/fake_conformance_integration_test.cc). A
// controller test that passes on the fake then relies only on behaviour the
// real server has too.
#ifndef HF_TESTS_KUBE_FAKE_CONFORMANCE_H_
#define HF_TESTS_KUBE_FAKE_CONFORMANCE_H_

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kube/rest/interfaces.h"

namespace hf::kube::conformance {

inline Json ConfigMap(const std::string& name, Json data, Json labels = Json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"labels", std::move(labels)}}},
          {"data", std::move(data)}};
}

inline std::string Rv(const Json& obj) { return obj["metadata"].value("resourceVersion", ""); }

// A write that changes nothing keeps the resourceVersion; one that changes
// something moves it.
inline void NoOpWritesKeepTheResourceVersion(ReadWriter& c, const std::string& ns) {
  ApplyOptions apply{.field_manager = "conformance", .force = true};
  auto first = c.Apply(resources::ConfigMaps(), ns, ConfigMap("noop", {{"a", "1"}}), apply);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto again = c.Apply(resources::ConfigMaps(), ns, ConfigMap("noop", {{"a", "1"}}), apply);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(Rv(*again), Rv(*first)) << "an identical apply";
  auto patched = c.Patch(resources::ConfigMaps(), ns, "noop", PatchType::kMerge, R"({"data":{"a":"1"}})");
  ASSERT_TRUE(patched.ok()) << patched.status().ToString();
  EXPECT_EQ(Rv(*patched), Rv(*first)) << "a merge patch that sets what is there";
  auto changed = c.Patch(resources::ConfigMaps(), ns, "noop", PatchType::kMerge, R"({"data":{"a":"2"}})");
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_NE(Rv(*changed), Rv(*first));
}

// A stale resourceVersion is a Conflict for Update, merge patch and apply.
inline void StaleWritesConflict(ReadWriter& c, const std::string& ns) {
  auto created = c.Create(resources::ConfigMaps(), ns, ConfigMap("stale", {{"a", "1"}}));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  auto newer = c.Patch(resources::ConfigMaps(), ns, "stale", PatchType::kMerge, R"({"data":{"a":"2"}})");
  ASSERT_TRUE(newer.ok());
  Json old = *created;
  old["data"]["a"] = "3";
  EXPECT_TRUE(IsConflict(c.Update(resources::ConfigMaps(), ns, old).status()));
  Json patch = {{"metadata", {{"resourceVersion", Rv(*created)}}}, {"data", {{"a", "4"}}}};
  EXPECT_TRUE(IsConflict(c.Patch(resources::ConfigMaps(), ns, "stale", PatchType::kMerge, patch.dump()).status()));
  Json applied = ConfigMap("stale", {{"a", "5"}});
  applied["metadata"]["resourceVersion"] = Rv(*created);
  EXPECT_TRUE(IsConflict(
      c.Apply(resources::ConfigMaps(), ns, applied, {.field_manager = "conformance", .force = true}).status()));
  auto dup = c.Create(resources::ConfigMaps(), ns, ConfigMap("stale", {{"a", "6"}}));
  EXPECT_TRUE(IsAlreadyExists(dup.status())) << dup.status().ToString();
  EXPECT_TRUE(IsConflict(c.Delete(resources::ConfigMaps(), ns, "stale", {.precondition_uid = "not-its-uid"})));
  auto got = c.Get(resources::ConfigMaps(), ns, "stale");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["data"]["a"], "2") << "no stale write landed";
}

// Delete waits for finalizers; removing the last one removes the object.
inline void FinalizersHoldADeletion(ReadWriter& c, const std::string& ns) {
  Json cm = ConfigMap("held", {{"a", "1"}});
  cm["metadata"]["finalizers"] = {"example.com/hold"};
  ASSERT_TRUE(c.Create(resources::ConfigMaps(), ns, cm).ok());
  ASSERT_TRUE(c.Delete(resources::ConfigMaps(), ns, "held").ok());
  auto got = c.Get(resources::ConfigMaps(), ns, "held");
  ASSERT_TRUE(got.ok()) << "held by its finalizer";
  EXPECT_TRUE((*got)["metadata"].contains("deletionTimestamp"));
  auto released = c.Patch(resources::ConfigMaps(), ns, "held", PatchType::kMerge, R"({"metadata":{"finalizers":[]}})");
  ASSERT_TRUE(released.ok()) << released.status().ToString();
  EXPECT_TRUE(IsNotFound(c.Get(resources::ConfigMaps(), ns, "held").status()));
  EXPECT_TRUE(IsNotFound(c.Delete(resources::ConfigMaps(), ns, "held")));
}

// Server-side apply removes what a manager applied before and leaves out
// now, and keeps what another writer set.
inline void ApplyRemovesWhatTheManagerDropped(ReadWriter& c, const std::string& ns) {
  ApplyOptions apply{.field_manager = "conformance", .force = true};
  ASSERT_TRUE(c.Apply(resources::ConfigMaps(), ns, ConfigMap("owned", {{"a", "1"}, {"b", "2"}}), apply).ok());
  ASSERT_TRUE(
      c.Patch(resources::ConfigMaps(), ns, "owned", PatchType::kMerge, R"({"data":{"c":"3"}})", {.field_manager = "other"})
          .ok());
  auto after = c.Apply(resources::ConfigMaps(), ns, ConfigMap("owned", {{"a", "1"}}), apply);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ((*after)["data"], (Json{{"a", "1"}, {"c", "3"}}));
}

// A watch from a list's resourceVersion sees what followed, including an
// object leaving the selector as DELETED.
inline void WatchFollowsTheSelector(ReadWriter& c, const std::string& ns) {
  auto list = c.List(resources::ConfigMaps(), ns, {.label_selector = "conformance=watched"});
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_TRUE(c.Create(resources::ConfigMaps(), ns, ConfigMap("w", {{"a", "1"}}, {{"conformance", "watched"}})).ok());
  ASSERT_TRUE(c.Patch(resources::ConfigMaps(), ns, "w", PatchType::kMerge, R"({"data":{"a":"2"}})").ok());
  ASSERT_TRUE(c.Create(resources::ConfigMaps(), ns, ConfigMap("unwatched", {{"a", "1"}})).ok());
  ASSERT_TRUE(c.Patch(resources::ConfigMaps(), ns, "w", PatchType::kMerge,
                      R"({"metadata":{"labels":{"conformance":"left"}}})")
                  .ok());

  std::vector<std::string> seen;
  std::stop_source stop;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::jthread guard([&] {  // bounds the watch if an event never comes
    std::unique_lock<std::mutex> l(mu);
    if (!cv.wait_for(l, std::chrono::seconds(20), [&] { return done; })) stop.request_stop();
  });
  Status st = c.Watch(
      resources::ConfigMaps(), ns, {.resource_version = list->resource_version, .label_selector = "conformance=watched",
                                    .allow_bookmarks = false, .timeout_seconds = 20},
      [&](WatchEvent&& ev) {
        static const char* kNames[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
        seen.push_back(std::string(kNames[static_cast<int>(ev.type)]) + " " +
                       ev.object["metadata"].value("name", "") + " " + ev.object.value("data", Json::object()).value("a", ""));
        return seen.size() < 3;
      },
      stop.get_token());
  {
    std::lock_guard<std::mutex> l(mu);
    done = true;
  }
  cv.notify_all();
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED w 1", "MODIFIED w 2", "DELETED w 2"}));
}

// Only metadata travels when asked for.
inline void MetadataOnlyGets(ReadWriter& c, const std::string& ns) {
  ASSERT_TRUE(c.Create(resources::ConfigMaps(), ns, ConfigMap("meta", {{"a", "1"}})).ok());
  auto got = c.Get(resources::ConfigMaps(), ns, "meta", {.metadata_only = true});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->value("kind", ""), "PartialObjectMetadata");
  EXPECT_FALSE(got->contains("data"));
  EXPECT_EQ((*got)["metadata"]["name"], "meta");
}

}  // namespace hf::kube::conformance

#endif  // HF_TESTS_KUBE_FAKE_CONFORMANCE_H_
