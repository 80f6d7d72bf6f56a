#include "kube/cache/shared_informer.h"

#include "kube/cache/on_demand_informer.h"
#include "kube/rest/client.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/kube/testing/fake_transport.h"

namespace hf::kube {
namespace {

struct Compact {
  ObjectMeta metadata;
};

std::optional<Compact> DecodeCompact(const Json& j) {
  Compact c{ObjectMeta::FromJson(j, false)};
  if (c.metadata.name.empty()) return std::nullopt;
  return c;
}

std::string Obj(const std::string& name, const std::string& rv, const std::string& pool = "") {
  Json j = {{"metadata", {{"name", name}, {"resourceVersion", rv}}}};
  if (!pool.empty()) j["metadata"]["labels"]["pool"] = pool;
  return j.dump();
}

std::string Event(const std::string& type, const std::string& obj) {
  return R"({"type":")" + type + R"(","object":)" + obj + "}\n";
}

// Records handler calls and lets the test wait for a count.
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> log;
  void Add(std::string s) {
    std::lock_guard<std::mutex> l(mu);
    log.push_back(std::move(s));
    cv.notify_all();
  }
  std::vector<std::string> WaitFor(size_t n) {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return log.size() >= n; });
    return log;
  }
};

class InformerTest : public ::testing::Test {
 protected:
  std::shared_ptr<testing::FakeTransport> transport_ = std::make_shared<testing::FakeTransport>();
  FakeClock clock_;
  Client client_{transport_, ClientOptions{nullptr, &clock_, nullptr, 0}};
  Recorder rec_;

  std::unique_ptr<SharedInformer<Compact>> Make() {
    ListWatchOptions o;
    o.metadata_only = true;
    auto inf = std::make_unique<SharedInformer<Compact>>(client_, resources::Nodes(), o, DecodeCompact, clock_);
    inf->AddEventHandler({[this](const Compact& c) { rec_.Add("add " + c.metadata.name); },
                          [this](const Compact&, const Compact& c) { rec_.Add("update " + c.metadata.name); },
                          [this](const Compact& c) { rec_.Add("delete " + c.metadata.name); }});
    inf->AddIndex("pool", [](const Compact& c) {
      auto it = c.metadata.labels.find("pool");
      return it == c.metadata.labels.end() ? std::vector<std::string>{} : std::vector<std::string>{it->second};
    });
    return inf;
  }
};

TEST_F(InformerTest, ListsThenWatchesAndIndexes) {
  transport_->Respond("GET /api/v1/nodes?limit=500", 200,
                      R"({"metadata":{"resourceVersion":"10"},"items":[)" + Obj("a", "5", "p1") + "," +
                          Obj("b", "6") + "]}");
  testing::FakeStream s;
  s.hold_open = true;
  s.chunks = {Event("ADDED", Obj("c", "11", "p1")), Event("MODIFIED", Obj("a", "12")),
              Event("DELETED", Obj("b", "13"))};
  transport_->RespondStream("GET /api/v1/nodes?watch=true&resourceVersion=10", s);

  auto inf = Make();
  std::jthread runner([&](std::stop_token st) { inf->Run(st); });
  ASSERT_TRUE(WaitForCacheSync(runner.get_stop_token(), {inf.get()}));
  auto log = rec_.WaitFor(5);
  EXPECT_EQ(log, (std::vector<std::string>{"add a", "add b", "add c", "update a", "delete b"}));
  EXPECT_EQ(inf->store().Size(), 2u);
  EXPECT_EQ(inf->store().ByIndex("pool", "p1").size(), 1u);  // a left p1, c joined
  EXPECT_EQ(inf->Get("c")->metadata.resource_version, "11");
  EXPECT_EQ(inf->reflector().LastResourceVersion(), "13");
  EXPECT_NE(transport_->requests()[0].accept.find("PartialObjectMetadataList"), std::string::npos);
}

TEST_F(InformerTest, RelistsOnGoneAndDiffsTheCache) {
  transport_->Respond("GET /api/v1/nodes?limit=500", 200,
                      R"({"metadata":{"resourceVersion":"10"},"items":[)" + Obj("a", "5") + "," + Obj("b", "6") + "]}");
  testing::FakeStream gone;
  gone.chunks = {Event("ERROR", R"({"kind":"Status","code":410,"reason":"Expired","message":"too old"})")};
  transport_->RespondStream("GET /api/v1/nodes?watch=true&resourceVersion=10", gone);
  // The relist: b is gone, a changed, d is new.
  transport_->Respond("GET /api/v1/nodes?limit=500", 200,
                      R"({"metadata":{"resourceVersion":"20"},"items":[)" + Obj("a", "15") + "," + Obj("d", "16") + "]}");
  testing::FakeStream idle;
  idle.hold_open = true;
  transport_->RespondStream("GET /api/v1/nodes?watch=true&resourceVersion=20", idle);

  auto inf = Make();
  std::jthread runner([&](std::stop_token st) { inf->Run(st); });
  auto log = rec_.WaitFor(5);
  EXPECT_EQ(std::vector<std::string>(log.begin() + 2, log.end()),
            (std::vector<std::string>{"update a", "add d", "delete b"}));
  EXPECT_EQ(inf->reflector().Lists(), 2u);
  transport_->WaitForRequests(4);
  EXPECT_EQ(inf->reflector().LastResourceVersion(), "20");
}

TEST_F(InformerTest, BacksOffOnFailureThenRecovers) {
  // No list answer scripted: the first attempt fails with a transport error.
  auto inf = Make();
  std::jthread runner([&](std::stop_token st) { inf->Run(st); });
  clock_.BlockUntilWaiters(1);  // in backoff
  EXPECT_FALSE(inf->HasSynced());
  transport_->Respond("GET /api/v1/nodes?limit=500", 200, R"({"metadata":{"resourceVersion":"3"},"items":[]})");
  testing::FakeStream idle;
  idle.hold_open = true;
  transport_->RespondStream("GET /api/v1/nodes?watch=true", idle);
  clock_.Step(std::chrono::seconds(1));
  ASSERT_TRUE(inf->WaitForSync(runner.get_stop_token()));
  EXPECT_TRUE(inf->HasSynced());
}

// A resource that comes and goes (a CRD): nothing runs until Start, a
// second Start changes nothing, Stop drops the cache, and the next Start
// lists afresh with the same handlers.
TEST_F(InformerTest, OnDemandStartsListsStopsAndStartsAfresh) {
  OnDemandInformer<Compact> inf(client_, resources::Nodes(), ListWatchOptions{.metadata_only = true}, DecodeCompact,
                                clock_);
  inf.AddEventHandler({[this](const Compact& c) { rec_.Add("add " + c.metadata.name); },
                       [this](const Compact&, const Compact& c) { rec_.Add("update " + c.metadata.name); },
                       [this](const Compact& c) { rec_.Add("delete " + c.metadata.name); }});
  inf.AddIndex("name", [](const Compact& c) { return std::vector<std::string>{c.metadata.name}; });
  EXPECT_FALSE(inf.IsRunning());
  EXPECT_EQ(inf.Synced(), nullptr);
  EXPECT_TRUE(transport_->requests().empty());

  transport_->Respond("GET /api/v1/nodes?limit=500", 200,
                      R"({"metadata":{"resourceVersion":"10"},"items":[)" + Obj("a", "5") + "]}");
  testing::FakeStream idle;
  idle.hold_open = true;
  transport_->RespondStream("GET /api/v1/nodes?watch=true&resourceVersion=10", idle);
  EXPECT_TRUE(inf.Start());
  EXPECT_FALSE(inf.Start());
  EXPECT_EQ(rec_.WaitFor(1), std::vector<std::string>{"add a"});
  transport_->WaitForRequests(2);  // the list, then the watch
  auto cache = inf.Synced();
  ASSERT_NE(cache, nullptr);
  EXPECT_NE(cache->Get("a"), nullptr);
  EXPECT_EQ(cache->store().ByIndex("name", "a").size(), 1u);

  inf.Stop();
  EXPECT_FALSE(inf.IsRunning());
  EXPECT_EQ(inf.Synced(), nullptr);
  EXPECT_NE(cache->Get("a"), nullptr) << "a cache handed out stays readable after Stop";
  inf.Stop();  // a no-op

  transport_->Respond("GET /api/v1/nodes?limit=500", 200,
                      R"({"metadata":{"resourceVersion":"20"},"items":[)" + Obj("b", "15") + "]}");
  transport_->RespondStream("GET /api/v1/nodes?watch=true&resourceVersion=20", idle);
  EXPECT_TRUE(inf.Start());
  EXPECT_EQ(rec_.WaitFor(2), (std::vector<std::string>{"add a", "add b"}));
  transport_->WaitForRequests(4);
  cache = inf.Synced();
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->Get("a"), nullptr);
  EXPECT_NE(cache->Get("b"), nullptr);
  EXPECT_EQ(cache->store().ByIndex("name", "b").size(), 1u) << "every informer it starts has the indexes";
}

// An API server restart: unreachable for a while, then "storage is
// (re)initializing" with Retry-After. The reflector must be back within
// about a second of the server, not after a 30 s backoff.
TEST(PlanRetryTest, UnreachableAndRetryAfterStayBounded) {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  BackoffPolicy o;
  Clock::Duration backoff = o.initial;
  Status refused(Reason::kTransport, "connect: connection refused");
  for (int i = 0; i < 20; ++i) {
    RetryPlan p = PlanRetry(refused, backoff, o);
    EXPECT_LE(p.wait, seconds(1)) << "attempt " << i;
    backoff = p.next_backoff;
  }
  Status initializing(Reason::kTooManyRequests, "storage is (re)initializing", 429);
  initializing.set_retry_after(seconds(30));
  RetryPlan p = PlanRetry(initializing, backoff, o);
  EXPECT_EQ(p.wait, seconds(2));
  initializing.set_retry_after(seconds(1));
  EXPECT_EQ(PlanRetry(initializing, backoff, o).wait, seconds(1));
  // A server that answers with errors still backs off exponentially.
  Status internal(Reason::kInternalError, "boom", 500);
  backoff = o.initial;
  for (int i = 0; i < 20; ++i) backoff = PlanRetry(internal, backoff, o).next_backoff;
  EXPECT_EQ(backoff, o.max);
  EXPECT_EQ(PlanRetry(internal, milliseconds(400), o).wait, milliseconds(400));
}

TEST(StoreTest, IndexFollowsUpdatesAndRemovals) {
  Store<Compact> store;
  store.AddIndex("pool", [](const Compact& c) { return std::vector<std::string>{c.metadata.labels.at("pool")}; });
  auto mk = [](std::string name, std::string pool) {
    Compact c;
    c.metadata.name = std::move(name);
    c.metadata.labels["pool"] = std::move(pool);
    return std::make_shared<const Compact>(std::move(c));
  };
  store.Upsert(mk("n1", "x"));
  store.Upsert(mk("n2", "x"));
  EXPECT_EQ(store.ByIndex("pool", "x").size(), 2u);
  store.Upsert(mk("n1", "y"));
  EXPECT_EQ(store.ByIndex("pool", "x").size(), 1u);
  EXPECT_EQ(store.ByIndex("pool", "y").size(), 1u);
  EXPECT_NE(store.Remove("n2"), nullptr);
  EXPECT_TRUE(store.ByIndex("pool", "x").empty());
  EXPECT_EQ(store.Remove("n2"), nullptr);
}

}  // namespace
}  // namespace hf::kube
