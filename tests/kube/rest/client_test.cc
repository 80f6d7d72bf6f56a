#include "kube/rest/client.h"

#include <gtest/gtest.h>

#include <thread>

#include "kube/workqueue/token_bucket.h"
#include "tests/kube/testing/fake_transport.h"

namespace hf::kube {
namespace {

using testing::FakeTransport;

class ClientTest : public ::testing::Test {
 protected:
  std::shared_ptr<FakeTransport> transport_ = std::make_shared<FakeTransport>();
  FakeClock clock_;
  std::vector<RequestRecord> records_;
  Client client_{transport_, ClientOptions{nullptr, &clock_,
                                           [this](const RequestRecord& r) { records_.push_back(r); }, 3}};
};

TEST_F(ClientTest, GetBuildsThePathAndDecodes) {
  transport_->Respond("GET /apis/apps/v1/namespaces/ns/daemonsets/ds", 200,
                      R"({"metadata":{"name":"ds","resourceVersion":"7"}})");
  auto obj = client_.Get(resources::DaemonSets(), "ns", "ds");
  ASSERT_TRUE(obj.ok()) << obj.status().ToString();
  EXPECT_EQ((*obj)["metadata"]["resourceVersion"], "7");
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].verb, "get");
  EXPECT_EQ(records_[0].resource, "daemonsets.apps");
  EXPECT_EQ(records_[0].code, 200);
}

TEST_F(ClientTest, ErrorsCarryTheApiReason) {
  transport_->Respond("GET /api/v1/nodes/missing", 404,
                      R"({"kind":"Status","reason":"NotFound","message":"nodes \"missing\" not found","code":404})");
  auto obj = client_.Get(resources::Nodes(), "", "missing");
  ASSERT_FALSE(obj.ok());
  EXPECT_TRUE(IsNotFound(obj.status()));
  EXPECT_EQ(obj.status().message(), "nodes \"missing\" not found");

  transport_->Respond("PUT /api/v1/nodes/n1", 409, R"({"kind":"Status","reason":"Conflict","message":"stale"})");
  auto up = client_.Update(resources::Nodes(), "", Json{{"metadata", {{"name", "n1"}}}});
  EXPECT_TRUE(IsConflict(up.status()));

  transport_->Respond("POST /api/v1/namespaces/ns/pods", 422,
                      R"({"kind":"Status","reason":"Invalid","message":"spec.containers: Required value"})");
  auto cr = client_.Create(resources::Pods(), "ns", Json::object());
  EXPECT_TRUE(IsInvalid(cr.status()));
  EXPECT_NE(cr.status().message().find("Required value"), std::string::npos);

  transport_->Respond("GET /api/v1/nodes", 500, "not json at all");
  auto raw = client_.List(resources::Nodes(), "");
  EXPECT_EQ(raw.status().reason(), Reason::kInternalError);
  EXPECT_EQ(raw.status().message(), "not json at all");
}

TEST_F(ClientTest, TooManyRequestsIsRetriedAfterRetryAfter) {
  transport_->Respond("GET /api/v1/nodes/n", 429, R"({"kind":"Status","reason":"TooManyRequests"})",
                      std::chrono::seconds(2));
  transport_->Respond("GET /api/v1/nodes/n", 200, R"({"metadata":{"name":"n"}})");
  StatusOr<Json> result = Status(Reason::kUnknown, "not run");
  std::thread t([&] { result = client_.Get(resources::Nodes(), "", "n"); });
  clock_.BlockUntilWaiters(1);
  clock_.Step(std::chrono::seconds(2));
  t.join();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(transport_->requests().size(), 2u);
}

TEST_F(ClientTest, TooManyRequestsGivesUpWithRetryAfter) {
  for (int i = 0; i < 4; ++i) {
    transport_->Respond("GET /api/v1/nodes/n", 429, R"({"kind":"Status","reason":"TooManyRequests"})",
                        std::chrono::seconds(1));
  }
  StatusOr<Json> result = Json::object();
  std::thread t([&] { result = client_.Get(resources::Nodes(), "", "n"); });
  for (size_t i = 1; i <= 3; ++i) {
    transport_->WaitForRequests(i);  // the previous wait is over
    clock_.BlockUntilWaiters(1);
    clock_.Step(std::chrono::seconds(1));
  }
  t.join();
  ASSERT_TRUE(IsTooManyRequests(result.status()));
  ASSERT_TRUE(result.status().retry_after().has_value());
  EXPECT_EQ(result.status().retry_after()->count(), 1);
}

TEST_F(ClientTest, ListPagesWithSelectorsAndMetadataOnly) {
  transport_->Respond("GET /api/v1/nodes?labelSelector=a%3Db%2Cc%21%3Dd&limit=2", 200,
                      R"({"metadata":{"resourceVersion":"10","continue":"tok"},"items":[{"metadata":{"name":"n1"}},{"metadata":{"name":"n2"}}]})");
  transport_->Respond("GET /api/v1/nodes?labelSelector=a%3Db%2Cc%21%3Dd&limit=2&continue=tok", 200,
                      R"({"metadata":{"resourceVersion":"10"},"items":[{"metadata":{"name":"n3"}}]})");
  ListOptions lo;
  lo.label_selector = "a=b,c!=d";
  lo.limit = 2;
  lo.metadata_only = true;
  std::vector<std::string> names;
  std::string rv;
  Status st = client_.ListEach(
      resources::Nodes(), "", lo, [&](Json&& o) { names.push_back(o["metadata"]["name"]); }, &rv);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(names, (std::vector<std::string>{"n1", "n2", "n3"}));
  EXPECT_EQ(rv, "10");
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_NE(reqs[0].accept.find("as=PartialObjectMetadataList"), std::string::npos);
}

TEST_F(ClientTest, ListItemsGetTheListsKindAndApiVersion) {
  // The server leaves them off list items; a cached item compared with a
  // desired object would otherwise differ after every re-list.
  transport_->Respond("GET /apis/apps/v1/daemonsets", 200,
                      R"({"apiVersion":"apps/v1","kind":"DaemonSetList","metadata":{"resourceVersion":"7"},)"
                      R"("items":[{"metadata":{"name":"a"}},{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"b"}}]})");
  auto page = client_.List(resources::DaemonSets(), "");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->items.size(), 2u);
  for (const auto& item : page->items) {
    EXPECT_EQ(item.value("kind", ""), "DaemonSet");
    EXPECT_EQ(item.value("apiVersion", ""), "apps/v1");
  }
}

// Caches ask for objects without metadata.managedFields. Only that field
// goes: a "managedFields" key anywhere else (a label, an annotation, the
// spec, the list's own metadata) stays, and so does everything after it.
constexpr const char* kManaged =
    R"({"metadata":{"name":"a","managedFields":[{"manager":"m","fieldsV1":{"f:metadata":{"f:labels":{}}}},)"
    R"({"manager":"n","fieldsV1":{}}],"labels":{"managedFields":"x"},"resourceVersion":"4"},)"
    R"("spec":{"managedFields":{"deep":[1,2]}},"status":{"metadata":{"managedFields":[]}}})";

void ExpectStripped(const Json& obj) {
  ASSERT_TRUE(obj.is_object()) << obj.dump();
  EXPECT_FALSE(obj["metadata"].contains("managedFields")) << obj.dump();
  EXPECT_EQ(obj["metadata"]["name"], "a");
  EXPECT_EQ(obj["metadata"]["labels"]["managedFields"], "x");
  EXPECT_EQ(obj["metadata"]["resourceVersion"], "4");
  EXPECT_EQ(obj["spec"]["managedFields"]["deep"], Json::array({1, 2}));
  EXPECT_TRUE(obj["status"]["metadata"].contains("managedFields"));
}

TEST_F(ClientTest, ListAndWatchCanLeaveOutManagedFields) {
  const std::string list = std::string(R"({"kind":"NodeList","metadata":{"resourceVersion":"9","managedFields":"k"},)") +
                           R"("items":[)" + kManaged + "," + kManaged + "]}";
  transport_->Respond("GET /api/v1/nodes", 200, list);
  transport_->Respond("GET /api/v1/nodes", 200, list);
  ListOptions lo;
  lo.strip_managed_fields = true;
  auto page = client_.List(resources::Nodes(), "", lo);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->resource_version, "9");
  ASSERT_EQ(page->items.size(), 2u);
  for (const auto& item : page->items) ExpectStripped(item);
  // Without the option the object is as the server sent it.
  page = client_.List(resources::Nodes(), "");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->items[0]["metadata"]["managedFields"].size(), 2u);

  testing::FakeStream s;
  s.chunks = {std::string(R"({"type":"ADDED","object":)") + kManaged + "}\n",
              std::string(R"({"type":"MODIFIED","object":)") + kManaged + "}\n"};
  transport_->RespondStream("GET /api/v1/nodes?watch=true", s);
  WatchOptions wo;
  wo.strip_managed_fields = true;
  int events = 0;
  Status st = client_.Watch(
      resources::Nodes(), "", wo, [&](WatchEvent&& ev) {
        ++events;
        ExpectStripped(ev.object);
        return true;
      },
      std::stop_token());
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(events, 2);

  transport_->Respond("GET /api/v1/nodes", 200, R"({"items":[{"metadata":{"managedFields":[)");
  EXPECT_FALSE(client_.List(resources::Nodes(), "", lo).ok());
}

TEST_F(ClientTest, ApplySendsFieldManagerForceAndApplyContentType) {
  transport_->Respond("PATCH /apis/hashfoundry.com/v1alpha1/devicepools/p/status?fieldManager=op&force=true", 200,
                      "{}");
  GroupVersionResource pools{"hashfoundry.com", "v1alpha1", "devicepools", false};
  ApplyOptions ao;
  ao.field_manager = "op";
  ao.force = true;
  ao.subresource = "status";
  auto r = client_.Apply(pools, "", Json{{"metadata", {{"name", "p"}}}}, ao);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto req = transport_->requests().back();
  EXPECT_EQ(req.content_type, "application/apply-patch+yaml");
  EXPECT_EQ(Json::parse(req.body)["metadata"]["name"], "p");

  auto missing = client_.Apply(pools, "", Json::object(), ApplyOptions{});
  EXPECT_TRUE(IsInvalid(missing.status()));
}

TEST_F(ClientTest, DeleteSendsPropagationAndPreconditions) {
  transport_->Respond("DELETE /api/v1/namespaces/ns/services/s", 200, "{}");
  DeleteOptions d;
  d.propagation = PropagationPolicy::kForeground;
  d.precondition_uid = "u1";
  ASSERT_TRUE(client_.Delete(resources::Services(), "ns", "s", d).ok());
  Json body = Json::parse(transport_->requests().back().body);
  EXPECT_EQ(body["propagationPolicy"], "Foreground");
  EXPECT_EQ(body["preconditions"]["uid"], "u1");
}

TEST_F(ClientTest, PatchTypesAndStatusSubresource) {
  transport_->Respond("PATCH /api/v1/nodes/n", 200, "{}");
  ASSERT_TRUE(client_.Patch(resources::Nodes(), "", "n", PatchType::kMerge, R"({"metadata":{}})").ok());
  EXPECT_EQ(transport_->requests().back().content_type, "application/merge-patch+json");
  transport_->Respond("PATCH /api/v1/nodes/n", 200, "{}");
  ASSERT_TRUE(client_.Patch(resources::Nodes(), "", "n", PatchType::kJson, "[]").ok());
  EXPECT_EQ(transport_->requests().back().content_type, "application/json-patch+json");
  transport_->Respond("PUT /apis/apps/v1/namespaces/ns/daemonsets/d/status", 200, "{}");
  ASSERT_TRUE(client_.UpdateStatus(resources::DaemonSets(), "ns", Json{{"metadata", {{"name", "d"}}}}).ok());
}

TEST_F(ClientTest, WatchDecodesEventsAcrossChunkBoundaries) {
  testing::FakeStream s;
  s.chunks = {R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}})"
              "\n{\"type\":\"MODI",
              R"(FIED","object":{"metadata":{"name":"a","resourceVersion":"2"}}})"
              "\n",
              R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"5"}}})"
              "\n"};
  transport_->RespondStream("GET /api/v1/nodes?watch=true&resourceVersion=1", s);
  WatchOptions wo;
  wo.resource_version = "1";
  std::vector<WatchEventType> types;
  Status st = client_.Watch(
      resources::Nodes(), "", wo, [&](WatchEvent&& ev) {
        types.push_back(ev.type);
        return true;
      },
      std::stop_token());
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(types, (std::vector<WatchEventType>{WatchEventType::kAdded, WatchEventType::kModified,
                                                WatchEventType::kBookmark}));
  EXPECT_NE(transport_->requests().back().path.find("allowWatchBookmarks=true"), std::string::npos);
}

TEST_F(ClientTest, WatchGoneIsReportedAsGone) {
  testing::FakeStream s;
  s.code = 410;
  s.error_body = R"({"kind":"Status","reason":"Expired","message":"too old resource version","code":410})";
  transport_->RespondStream("GET /api/v1/nodes?watch=true", s);
  Status st = client_.Watch(resources::Nodes(), "", WatchOptions{}, [](WatchEvent&&) { return true; },
                            std::stop_token());
  EXPECT_TRUE(IsGone(st)) << st.ToString();
}

TEST_F(ClientTest, RateLimiterIsConsultedBeforeRequests) {
  auto bucket = std::make_shared<TokenBucket>(1.0, 1, clock_);
  Client limited(transport_, ClientOptions{bucket, &clock_, nullptr, 0});
  transport_->Respond("GET /api/v1/nodes/a", 200, "{}");
  transport_->Respond("GET /api/v1/nodes/b", 200, "{}");
  ASSERT_TRUE(limited.Get(resources::Nodes(), "", "a").ok());
  std::thread t([&] { ASSERT_TRUE(limited.Get(resources::Nodes(), "", "b").ok()); });
  clock_.BlockUntilWaiters(1);
  EXPECT_EQ(transport_->requests().size(), 1u);  // second request still held by the bucket
  clock_.Step(std::chrono::seconds(1));
  t.join();
  EXPECT_EQ(transport_->requests().size(), 2u);
}

TEST(ResourcePathTest, CoreGroupsAndSubresources) {
  EXPECT_EQ(ResourcePath(resources::Nodes(), "ignored", "n1"), "/api/v1/nodes/n1");
  EXPECT_EQ(ResourcePath(resources::Pods(), ""), "/api/v1/pods");
  EXPECT_EQ(ResourcePath(resources::DaemonSets(), "ns", "d", "status"),
            "/apis/apps/v1/namespaces/ns/daemonsets/d/status");
  EXPECT_EQ(QueryEscape("a=b c/d"), "a%3Db%20c%2Fd");
}

}  // namespace
}  // namespace hf::kube
