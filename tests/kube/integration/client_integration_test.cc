// hf::kube against a real kube-apiserver (tests/cluster) with RBAC on.
#include <gtest/gtest.h>

#include <thread>

#include "kube/cache/shared_informer.h"
#include "kube/rest/client.h"
#include "tests/testing/cluster.h"

namespace hf::kube {
namespace {

using hf::testing::Eventually;
using hf::testing::LocalCluster;
using hf::testing::UniqueName;

class ClientIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = cluster_.AdminClient();
    ns_ = UniqueName("kube-it");
    auto created = client_->Create(resources::Namespaces(), "", Json{{"metadata", {{"name", ns_}}}});
    ASSERT_TRUE(created.ok()) << created.status().ToString();
  }
  void TearDown() override { (void)client_->Delete(resources::Namespaces(), "", ns_); }

  static Json ConfigMap(const std::string& name, const std::string& value) {
    return {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}}}, {"data", {{"k", value}}}};
  }

  LocalCluster& cluster_ = LocalCluster::Shared();
  std::unique_ptr<Client> client_;
  std::string ns_;
};

TEST_F(ClientIntegrationTest, CreateGetUpdateDelete) {
  auto created = client_->Create(resources::ConfigMaps(), ns_, ConfigMap("cm", "1"));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  auto got = client_->Get(resources::ConfigMaps(), ns_, "cm");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["data"]["k"], "1");

  (*got)["data"]["k"] = "2";
  auto updated = client_->Update(resources::ConfigMaps(), ns_, *got);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ((*updated)["data"]["k"], "2");

  auto dup = client_->Create(resources::ConfigMaps(), ns_, ConfigMap("cm", "3"));
  EXPECT_TRUE(IsAlreadyExists(dup.status())) << dup.status().ToString();

  DeleteOptions d;
  d.propagation = PropagationPolicy::kBackground;
  ASSERT_TRUE(client_->Delete(resources::ConfigMaps(), ns_, "cm", d).ok());
  EXPECT_TRUE(IsNotFound(client_->Get(resources::ConfigMaps(), ns_, "cm").status()));
  EXPECT_TRUE(IsNotFound(client_->Delete(resources::ConfigMaps(), ns_, "cm")));
}

TEST_F(ClientIntegrationTest, StaleUpdateIsAConflict) {
  auto created = client_->Create(resources::ConfigMaps(), ns_, ConfigMap("cm", "1"));
  ASSERT_TRUE(created.ok());
  Json stale = *created;
  Json fresh = *created;
  fresh["data"]["k"] = "2";
  ASSERT_TRUE(client_->Update(resources::ConfigMaps(), ns_, fresh).ok());
  stale["data"]["k"] = "3";
  auto r = client_->Update(resources::ConfigMaps(), ns_, stale);
  EXPECT_TRUE(IsConflict(r.status())) << r.status().ToString();
  EXPECT_EQ(r.status().http_code(), 409);
}

TEST_F(ClientIntegrationTest, ServerSideApplyOwnershipAndForce) {
  ApplyOptions a;
  a.field_manager = "manager-a";
  auto first = client_->Apply(resources::ConfigMaps(), ns_, ConfigMap("cm", "from-a"), a);
  ASSERT_TRUE(first.ok()) << first.status().ToString();

  ApplyOptions b;
  b.field_manager = "manager-b";
  auto clash = client_->Apply(resources::ConfigMaps(), ns_, ConfigMap("cm", "from-b"), b);
  ASSERT_TRUE(IsConflict(clash.status())) << clash.status().ToString();
  EXPECT_NE(clash.status().message().find("manager-a"), std::string::npos);

  b.force = true;
  auto forced = client_->Apply(resources::ConfigMaps(), ns_, ConfigMap("cm", "from-b"), b);
  ASSERT_TRUE(forced.ok()) << forced.status().ToString();
  EXPECT_EQ((*forced)["data"]["k"], "from-b");
  bool b_owns_data = false;
  for (const auto& mf : (*forced)["metadata"]["managedFields"]) {
    if (mf["manager"] == "manager-b" && mf["fieldsV1"].contains("f:data")) b_owns_data = true;
  }
  EXPECT_TRUE(b_owns_data);

  // Re-applying the same intent changes nothing: same resourceVersion.
  auto again = client_->Apply(resources::ConfigMaps(), ns_, ConfigMap("cm", "from-b"), b);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)["metadata"]["resourceVersion"], (*forced)["metadata"]["resourceVersion"]);
}

TEST_F(ClientIntegrationTest, PagesThroughTwoThousandObjects) {
  // No client-side limit here: the point is paging, not pacing.
  auto client = std::make_unique<Client>(NewCurlTransport(cluster_.AdminConfig()));
  constexpr int kCount = 2000;
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = w; i < kCount; i += 4) {
        Json cm = ConfigMap("cm-" + std::to_string(i), "v");
        cm["metadata"]["labels"]["page"] = "yes";
        if (!client->Create(resources::ConfigMaps(), ns_, cm).ok()) failures.fetch_add(1);
      }
    });
  }
  for (auto& t : writers) t.join();
  ASSERT_EQ(failures.load(), 0);

  ListOptions lo;
  lo.limit = 300;
  lo.label_selector = "page=yes";
  int seen = 0;
  int pages = 0;
  std::string rv;
  for (;;) {
    auto page = client->List(resources::ConfigMaps(), ns_, lo);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    ++pages;
    seen += static_cast<int>(page->items.size());
    EXPECT_LE(page->items.size(), 300u);
    if (page->continue_token.empty()) break;
    lo.continue_token = page->continue_token;
  }
  EXPECT_EQ(seen, kCount);
  EXPECT_EQ(pages, 7);

  int each = 0;
  lo.continue_token.clear();
  ASSERT_TRUE(client->ListEach(resources::ConfigMaps(), ns_, lo, [&](Json&&) { ++each; }, &rv).ok());
  EXPECT_EQ(each, kCount);
  EXPECT_FALSE(rv.empty());
}

TEST_F(ClientIntegrationTest, RbacDenialIsForbidden) {
  Json sa = {{"metadata", {{"name", "nobody"}}}};
  ASSERT_TRUE(client_->Create(resources::ServiceAccounts(), ns_, sa).ok());
  auto cfg = LoadKubeconfig(cluster_.ServiceAccountKubeconfig(ns_, "nobody"));
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  Client as_sa(NewCurlTransport(*cfg));
  auto r = as_sa.List(resources::Nodes(), "");
  ASSERT_TRUE(IsForbidden(r.status())) << r.status().ToString();
  EXPECT_EQ(r.status().http_code(), 403);
  EXPECT_NE(r.status().message().find("system:serviceaccount:" + ns_ + ":nobody"), std::string::npos);
}

TEST_F(ClientIntegrationTest, MetadataOnlyListAndHttp2) {
  ListOptions lo;
  lo.metadata_only = true;
  auto page = client_->List(resources::Namespaces(), "", lo);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_FALSE(page->items.empty());
  EXPECT_EQ(page->items[0]["kind"], "PartialObjectMetadata");
  EXPECT_FALSE(page->items[0].contains("spec"));

  auto transport = NewCurlTransport(cluster_.AdminConfig());
  auto resp = transport->Do(HttpRequest{"GET", "/readyz"});
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  EXPECT_EQ(resp->code, 200);
  EXPECT_EQ(resp->protocol, "HTTP/2");
}

TEST_F(ClientIntegrationTest, WrongCertificateAuthorityIsRefused) {
  RestConfig cfg = cluster_.AdminConfig();
  cfg.ca_pem.clear();  // the system store does not know our test CA
  auto resp = NewCurlTransport(cfg)->Do(HttpRequest{"GET", "/readyz"});
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(resp.status().reason(), Reason::kTransport);
}

struct Meta {
  ObjectMeta metadata;
};

TEST_F(ClientIntegrationTest, InformerFollowsChanges) {
  ListWatchOptions o;
  o.ns = ns_;
  SharedInformer<Meta> inf(*client_, resources::ConfigMaps(), o,
                           [](const Json& j) { return std::optional<Meta>(Meta{ObjectMeta::FromJson(j)}); });
  std::jthread runner([&](std::stop_token st) { inf.Run(st); });
  ASSERT_TRUE(WaitForCacheSync(runner.get_stop_token(), {&inf}));
  ASSERT_TRUE(client_->Create(resources::ConfigMaps(), ns_, ConfigMap("watched", "1")).ok());
  EXPECT_TRUE(Eventually([&] { return inf.Get(ns_ + "/watched") != nullptr; }));
  ASSERT_TRUE(client_->Delete(resources::ConfigMaps(), ns_, "watched").ok());
  EXPECT_TRUE(Eventually([&] { return inf.Get(ns_ + "/watched") == nullptr; }));
}

// A private cluster whose etcd history is compacted every few seconds and
// whose watches bypass the watch cache, so an old resourceVersion really
// expires (410 Gone) and the reflector has to list again.
TEST(CompactionIntegrationTest, ReflectorRelistsAfterCompaction) {
  std::string dir = std::filesystem::temp_directory_path() / UniqueName("hf-compaction");
  auto cluster = LocalCluster::Start(dir, {"--etcd-compaction-interval=3s", "--watch-cache=false"});
  auto client = cluster->AdminClient();
  std::string quiet = UniqueName("quiet");
  std::string busy = UniqueName("busy");
  for (const auto& ns : {quiet, busy}) {
    ASSERT_TRUE(client->Create(resources::Namespaces(), "", Json{{"metadata", {{"name", ns}}}}).ok());
  }
  ListWatchOptions o;
  o.ns = quiet;
  o.watch_timeout_seconds = 1;  // re-open often, from the (aging) last resourceVersion
  SharedInformer<Meta> inf(*client, resources::ConfigMaps(), o,
                           [](const Json& j) { return std::optional<Meta>(Meta{ObjectMeta::FromJson(j)}); });
  std::jthread runner([&](std::stop_token st) { inf.Run(st); });
  ASSERT_TRUE(WaitForCacheSync(runner.get_stop_token(), {&inf}));
  const std::string first_rv = inf.reflector().LastResourceVersion();

  // Writes elsewhere move etcd's revision on; compaction then drops the
  // history the quiet informer would resume from.
  int i = 0;
  bool relisted = Eventually(
      [&] {
        Json cm = {{"metadata", {{"name", "cm-" + std::to_string(i++)}}}};
        (void)client->Create(resources::ConfigMaps(), busy, cm);
        return inf.reflector().Lists() >= 2;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(100));
  EXPECT_TRUE(relisted) << "no relist after compaction; still at resourceVersion " << first_rv;
  EXPECT_NE(inf.reflector().LastResourceVersion(), first_rv);
  EXPECT_TRUE(inf.HasSynced());
}

}  // namespace
}  // namespace hf::kube
