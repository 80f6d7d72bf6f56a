#include "kube/events/event_recorder.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "kube/rest/client.h"
#include "tests/kube/testing/fake_transport.h"

namespace hf::kube {
namespace {

using std::chrono::seconds;
using testing::FakeTransport;

constexpr char kEvents[] = "/apis/events.k8s.io/v1/namespaces/ns/events";

ObjectReference ConfigMap(const std::string& name) { return {"v1", "ConfigMap", name, "ns", "uid-" + name}; }

// Holds every request until opened, so a test can keep the writer busy.
class GatedTransport final : public Transport {
 public:
  explicit GatedTransport(std::shared_ptr<Transport> inner) : inner_(std::move(inner)) {}

  StatusOr<HttpResponse> Do(const HttpRequest& req) override {
    {
      std::unique_lock<std::mutex> l(mu_);
      ++blocked_;
      cv_.notify_all();
      cv_.wait(l, [this] { return open_; });
    }
    return inner_->Do(req);
  }
  StatusOr<HttpResponse> Stream(const HttpRequest& req, const std::function<bool(std::string_view)>& on_data,
                                std::stop_token stop) override {
    return inner_->Stream(req, on_data, stop);
  }

  void WaitForBlocked(int n) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return blocked_ >= n; });
  }
  void Open() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::shared_ptr<Transport> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  int blocked_ = 0;    // guarded by mu_
  bool open_ = false;  // guarded by mu_
};

class EventRecorderTest : public ::testing::Test {
 protected:
  EventRecorderTest() {
    for (int i = 0; i < 20; ++i) {
      transport_->Respond(std::string("POST ") + kEvents, 201, "{}");
      transport_->Respond(std::string("PATCH ") + kEvents + "/", 200, "{}");
    }
  }

  EventRecorderOptions Options() {
    EventRecorderOptions o;
    o.reporting_controller = "hashfoundry.com/devicepool-operator";
    o.reporting_instance = "operator-0";
    o.clock = &clock_;
    return o;
  }

  std::vector<HttpRequest> Requests(const std::string& method) const {
    std::vector<HttpRequest> out;
    for (auto& r : transport_->requests()) {
      if (r.method == method) out.push_back(r);
    }
    return out;
  }
  // The series count the API holds after the last write.
  int64_t LastWrittenCount() const {
    Json last = Json::parse(transport_->requests().back().body);
    return last.contains("series") ? last["series"]["count"].get<int64_t>() : 1;
  }

  // When (on the fake clock) each request finished.
  std::vector<Clock::TimePoint> RequestTimes() {
    std::lock_guard<std::mutex> l(mu_);
    return request_times_;
  }

  std::shared_ptr<FakeTransport> transport_ = std::make_shared<FakeTransport>();
  FakeClock clock_;
  const Clock::TimePoint start_ = clock_.Now();
  std::mutex mu_;
  std::vector<Clock::TimePoint> request_times_;  // guarded by mu_
  const ClientOptions client_options_{nullptr, &clock_,
                                      [this](const RequestRecord&) {
                                        std::lock_guard<std::mutex> l(mu_);
                                        request_times_.push_back(clock_.Now());
                                      },
                                      0};
  Client client_{transport_, client_options_};
};

TEST_F(EventRecorderTest, CreatesAnEventWithEveryField) {
  EventRecorderImpl recorder(client_, Options());
  recorder.Eventf(ConfigMap("cm"), EventType::kWarning, "ReconcileFailed", "Reconcile", "it broke");
  recorder.Shutdown();

  auto posts = Requests("POST");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0].path, kEvents);
  Json ev = Json::parse(posts[0].body);
  // <name>.<hex unix nanos> at FakeClock's 2026-01-01T00:00:00Z.
  EXPECT_EQ(ev["metadata"]["name"], "cm.18867251edfa0000");
  EXPECT_EQ(ev["metadata"]["namespace"], "ns");
  EXPECT_EQ(ev["eventTime"], "2026-01-01T00:00:00.000000Z");
  EXPECT_EQ(ev["regarding"], (Json{{"apiVersion", "v1"},
                                   {"kind", "ConfigMap"},
                                   {"name", "cm"},
                                   {"namespace", "ns"},
                                   {"uid", "uid-cm"}}));
  EXPECT_EQ(ev["type"], "Warning");
  EXPECT_EQ(ev["reason"], "ReconcileFailed");
  EXPECT_EQ(ev["action"], "Reconcile");
  EXPECT_EQ(ev["note"], "it broke");
  EXPECT_EQ(ev["reportingController"], "hashfoundry.com/devicepool-operator");
  EXPECT_EQ(ev["reportingInstance"], "operator-0");
  EXPECT_FALSE(ev.contains("series"));
  EXPECT_EQ(recorder.Dropped(), 0u);
}

TEST_F(EventRecorderTest, ClusterScopedObjectsGoToDefaultAndNotesAreCutOnACharacter) {
  transport_->Respond("POST /apis/events.k8s.io/v1/namespaces/default/events", 201, "{}");
  EventRecorderImpl recorder(client_, Options());
  // 1023 bytes and a two-byte character: cutting at 1024 would split it.
  recorder.Eventf({"hashfoundry.com/v1alpha1", "DevicePool", "pool-a", "", "u1"}, EventType::kNormal, "Labelled",
                  "Label", std::string(1023, 'x') + "\xC3\xA9");
  recorder.Shutdown();

  auto posts = Requests("POST");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0].path, "/apis/events.k8s.io/v1/namespaces/default/events");
  Json ev = Json::parse(posts[0].body);
  EXPECT_EQ(ev["note"], std::string(1023, 'x'));
  EXPECT_FALSE(ev["regarding"].contains("namespace"));
  EXPECT_EQ(ev["type"], "Normal");
}

TEST_F(EventRecorderTest, RepeatsPatchOneSeriesAtMostOncePerInterval) {
  auto gate = std::make_shared<GatedTransport>(transport_);
  Client gated(gate, client_options_);
  EventRecorderImpl recorder(gated, Options());
  auto record = [&] { recorder.Eventf(ConfigMap("cm"), EventType::kNormal, "Synced", "Reconcile", "ok"); };
  record();
  gate->WaitForBlocked(1);  // the writer is sending the create...
  record();                 // ...when the second occurrence comes
  gate->Open();
  clock_.BlockUntilWaiters(1);  // the writer has taken it and waits for its time
  EXPECT_EQ(transport_->requests().size(), 1u);
  clock_.Step(seconds(9));
  record();
  clock_.Step(seconds(1));  // both repeats go out in one patch at 10 s
  transport_->WaitForRequests(2);
  recorder.Shutdown();

  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(RequestTimes().at(1), start_ + seconds(10));
  std::string name = Json::parse(reqs[0].body)["metadata"]["name"];
  EXPECT_EQ(reqs[1].method, "PATCH");
  EXPECT_EQ(reqs[1].path, std::string(kEvents) + "/" + name);
  EXPECT_EQ(reqs[1].content_type, "application/merge-patch+json");
  EXPECT_EQ(Json::parse(reqs[1].body),
            (Json{{"series", {{"count", 3}, {"lastObservedTime", "2026-01-01T00:00:09.000000Z"}}}}));
}

TEST_F(EventRecorderTest, AThousandRepeatsCostAFewWrites) {
  EventRecorderImpl recorder(client_, Options());
  for (int i = 0; i < 1000; ++i) {
    recorder.Eventf(ConfigMap("cm"), EventType::kWarning, "Unhealthy", "Probe", "device 3 unhealthy");
    if (i % 100 == 99) clock_.Step(seconds(1));
  }
  recorder.Shutdown();

  EXPECT_EQ(Requests("POST").size(), 1u);
  EXPECT_LE(transport_->requests().size(), 3u);  // create, at most one patch at 10 s, the final flush
  EXPECT_EQ(LastWrittenCount(), 1000);
  EXPECT_EQ(recorder.Dropped(), 0u);
}

TEST_F(EventRecorderTest, DistinctEventsAreSeparate) {
  EventRecorderImpl recorder(client_, Options());
  recorder.Eventf(ConfigMap("a"), EventType::kNormal, "X", "Act", "n");
  recorder.Eventf(ConfigMap("a"), EventType::kNormal, "Y", "Act", "n");
  recorder.Eventf(ConfigMap("a"), EventType::kWarning, "X", "Act", "n");
  recorder.Eventf(ConfigMap("a"), EventType::kNormal, "X", "Act", "other note");
  recorder.Eventf(ConfigMap("b"), EventType::kNormal, "X", "Act", "n");
  recorder.Shutdown();

  auto posts = Requests("POST");
  ASSERT_EQ(posts.size(), 5u);
  EXPECT_TRUE(Requests("PATCH").empty());
  std::set<std::string> names;
  for (auto& p : posts) {
    Json ev = Json::parse(p.body);
    names.insert(ev["metadata"]["name"]);
    EXPECT_FALSE(ev.contains("series"));
  }
  EXPECT_EQ(names.size(), 5u);  // unique although the clock stood still
}

TEST_F(EventRecorderTest, QueueOverflowDropsWithoutBlocking) {
  auto gate = std::make_shared<GatedTransport>(transport_);
  Client gated(gate, client_options_);
  EventRecorderOptions o = Options();
  o.queue_capacity = 2;
  EventRecorderImpl recorder(gated, o);
  auto record = [&](const std::string& reason) {
    recorder.Eventf(ConfigMap("cm"), EventType::kNormal, reason, "Act", "n");
  };
  record("A");
  gate->WaitForBlocked(1);  // the writer is stuck sending A
  record("B");
  record("C");
  record("B");  // a repeat of a queued event takes no room
  record("D");
  record("E");
  EXPECT_EQ(recorder.Dropped(), 2u);
  gate->Open();
  recorder.Shutdown();

  std::map<std::string, Json> by_reason;
  for (auto& p : Requests("POST")) {
    Json ev = Json::parse(p.body);
    by_reason[ev["reason"]] = ev;
  }
  ASSERT_EQ(by_reason.size(), 3u);
  EXPECT_TRUE(by_reason.count("A") && by_reason.count("B") && by_reason.count("C"));
  EXPECT_EQ(by_reason["B"]["series"]["count"], 2);
}

TEST_F(EventRecorderTest, ShutdownFlushesAndLaterEventsAreDropped) {
  EventRecorderImpl recorder(client_, Options());
  auto record = [&] { recorder.Eventf(ConfigMap("cm"), EventType::kNormal, "Synced", "Reconcile", "ok"); };
  record();
  transport_->WaitForRequests(1);
  for (int i = 0; i < 4; ++i) record();  // not due for another 10 s
  recorder.Shutdown();
  ASSERT_EQ(transport_->requests().size(), 2u);
  EXPECT_EQ(transport_->requests()[1].method, "PATCH");
  EXPECT_EQ(LastWrittenCount(), 5);

  record();
  EXPECT_EQ(recorder.Dropped(), 1u);
  EXPECT_EQ(transport_->requests().size(), 2u);
}

TEST_F(EventRecorderTest, ARepeatAfterTheWindowStartsANewEvent) {
  EventRecorderImpl recorder(client_, Options());
  auto record = [&] { recorder.Eventf(ConfigMap("cm"), EventType::kNormal, "Synced", "Reconcile", "ok"); };
  record();
  transport_->WaitForRequests(1);
  clock_.Step(std::chrono::minutes(11));
  record();
  transport_->WaitForRequests(2);
  recorder.Shutdown();

  auto posts = Requests("POST");
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_TRUE(Requests("PATCH").empty());
  EXPECT_NE(Json::parse(posts[0].body)["metadata"]["name"], Json::parse(posts[1].body)["metadata"]["name"]);
  EXPECT_FALSE(Json::parse(posts[1].body).contains("series"));
}

// The finding: the operator's RSS grew with every pool created and deleted
// and stayed up after the series window, because a quiet recorder never
// woke to forget ended series.
TEST_F(EventRecorderTest, EndedSeriesAreForgottenWithoutANewEvent) {
  std::mutex mu;
  std::condition_variable cv;
  int rounds = 0;
  EventRecorderOptions o = Options();
  o.on_round = [&] {
    std::lock_guard<std::mutex> l(mu);
    ++rounds;
    cv.notify_all();
  };
  EventRecorderImpl recorder(client_, o);
  recorder.Eventf(ConfigMap("a"), EventType::kNormal, "Created", "Create", "created a");
  recorder.Eventf(ConfigMap("b"), EventType::kNormal, "Created", "Create", "created b");
  transport_->WaitForRequests(2);
  clock_.BlockUntilWaiters(1);
  EXPECT_EQ(recorder.Remembered(), 2u);
  int before = 0;
  {
    std::lock_guard<std::mutex> l(mu);
    before = rounds;
  }
  clock_.Step(std::chrono::minutes(11));
  // The writer wakes by itself at the end of the window and forgets both.
  std::unique_lock<std::mutex> l(mu);
  cv.wait(l, [&] { return rounds > before; });
  EXPECT_EQ(recorder.Remembered(), 0u);
  l.unlock();
  recorder.Shutdown();
}

TEST_F(EventRecorderTest, RemembersAtMostMaxSeries) {
  for (int i = 0; i < 20; ++i) transport_->Respond(std::string("POST ") + kEvents, 201, "{}");
  EventRecorderOptions o = Options();
  o.max_series = 3;
  EventRecorderImpl recorder(client_, o);
  for (int i = 0; i < 10; ++i) {
    recorder.Eventf(ConfigMap("cm-" + std::to_string(i)), EventType::kNormal, "Created", "Create", "created");
    transport_->WaitForRequests(i + 1);
    clock_.BlockUntilWaiters(1);
    EXPECT_LE(recorder.Remembered(), 3u);
  }
  EXPECT_EQ(recorder.Remembered(), 3u);
  EXPECT_EQ(recorder.Dropped(), 0u) << "only written series were forgotten";
  recorder.Shutdown();
}

TEST(EventRecorderWriteTest, AnExpiredEventIsCreatedAgainWithTheWholeCount) {
  auto transport = std::make_shared<FakeTransport>();
  FakeClock clock;
  Client client(transport, ClientOptions{nullptr, &clock, nullptr, 0});
  transport->Respond(std::string("POST ") + kEvents, 201, "{}");
  transport->Respond(std::string("PATCH ") + kEvents + "/", 404, R"({"kind":"Status","reason":"NotFound"})");
  transport->Respond(std::string("POST ") + kEvents, 201, "{}");
  EventRecorderOptions o;
  o.reporting_controller = "c";
  o.reporting_instance = "i";
  o.clock = &clock;
  EventRecorderImpl recorder(client, o);
  recorder.Eventf(ConfigMap("cm"), EventType::kNormal, "Synced", "Reconcile", "ok");
  transport->WaitForRequests(1);
  recorder.Eventf(ConfigMap("cm"), EventType::kNormal, "Synced", "Reconcile", "ok");
  recorder.Shutdown();

  auto reqs = transport->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[1].method, "PATCH");
  EXPECT_EQ(reqs[2].method, "POST");
  EXPECT_EQ(Json::parse(reqs[2].body)["series"]["count"], 2);
  EXPECT_EQ(recorder.Dropped(), 0u);
}

TEST(EventRecorderWriteTest, FailingWritesAreRetriedThenDropped) {
  auto transport = std::make_shared<FakeTransport>();
  FakeClock clock;
  Client client(transport, ClientOptions{nullptr, &clock, nullptr, 0});
  for (int i = 0; i < 5; ++i) {
    transport->Respond(std::string("POST ") + kEvents, 500, R"({"kind":"Status","reason":"InternalError"})");
  }
  EventRecorderOptions o;
  o.reporting_controller = "c";
  o.reporting_instance = "i";
  o.clock = &clock;
  EventRecorderImpl recorder(client, o);  // three attempts, ten seconds apart
  recorder.Eventf(ConfigMap("cm"), EventType::kWarning, "Failed", "Reconcile", "x");
  transport->WaitForRequests(1);
  clock.Step(seconds(10));
  transport->WaitForRequests(2);
  clock.Step(seconds(10));
  transport->WaitForRequests(3);
  recorder.Shutdown();

  EXPECT_EQ(transport->requests().size(), 3u);  // given up: the flush has nothing left
  EXPECT_EQ(recorder.Dropped(), 1u);
}

}  // namespace
}  // namespace hf::kube
