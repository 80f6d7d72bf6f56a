// Reporter with a scripted API (FakeTransport) and a FakeClock: what it
// writes, that it writes nothing when nothing changed, re-creation of a
// deleted object, and retry with backoff.
#include "agent/reporter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <prometheus/registry.h>

#include "agent/version.h"
#include "tests/agent/testing/metrics.h"
#include "tests/kube/testing/fake_transport.h"

namespace hf::agent {
namespace {

using ::testing::HasSubstr;
using testing::MetricValue;

constexpr char kObjectPatch[] = "PATCH /apis/hashfoundry.com/v1alpha1/devicepoolnodes/gpu.n1?";
constexpr char kStatusPatch[] = "PATCH /apis/hashfoundry.com/v1alpha1/devicepoolnodes/gpu.n1/status?";

class ReporterTest : public ::testing::Test {
 protected:
  ReporterTest() { SetDevices(true); }

  void SetDevices(bool healthy) {
    Device d;
    d.id = "sim-0";
    d.healthy = healthy;
    auto s = std::make_shared<DeviceState>();
    s->set = DeviceSet({d}, 1);
    s->scanned = true;
    std::lock_guard<std::mutex> l(mu_);
    devices_ = s;
  }

  std::unique_ptr<Reporter> NewReporter(bool client_ok = true, bool watch = false) {
    ReporterOptions options{{"gpu", "uid-1", "n1"}};
    options.watch = watch;
    return std::make_unique<Reporter>(
        options,
        [this, client_ok]() -> kube::StatusOr<std::shared_ptr<kube::Client>> {
          ++factory_calls_;
          if (!client_ok) return kube::Status(kube::Reason::kInvalid, "no kubeconfig");
          kube::ClientOptions co;
          co.clock = &clock_;
          return std::make_shared<kube::Client>(transport_, co);
        },
        [this] {
          std::lock_guard<std::mutex> l(mu_);
          return Observation{devices_, registered_, 0, "simulated", "rev-2"};
        },
        metrics_, clock_);
  }

  std::vector<kube::HttpRequest> Requests() const { return transport_->requests(); }

  // Requests that are writes (PATCH), leaving out the watch's reads.
  std::vector<kube::HttpRequest> Writes() const {
    std::vector<kube::HttpRequest> out;
    for (auto& r : transport_->requests()) {
      if (r.method == "PATCH") out.push_back(r);
    }
    return out;
  }

  // Waits until `n` writes were sent.
  void WaitForWrites(size_t n) {
    for (size_t seen = Requests().size();; ++seen) {
      if (Writes().size() >= n) return;
      transport_->WaitForRequests(seen + 1);
    }
  }

  std::shared_ptr<kube::testing::FakeTransport> transport_ = std::make_shared<kube::testing::FakeTransport>();
  kube::FakeClock clock_;
  prometheus::Registry registry_;
  AgentMetrics metrics_{registry_, "gpu", "node-a"};
  std::mutex mu_;
  std::shared_ptr<const DeviceState> devices_;
  bool registered_ = true;
  int factory_calls_ = 0;
};

TEST_F(ReporterTest, WritesTheObjectThenTheStatusAndNothingWhenNothingChanged) {
  transport_->Respond(kObjectPatch, 200, "{}");
  transport_->Respond(kStatusPatch, 200, "{}");
  auto reporter = NewReporter();
  ASSERT_TRUE(reporter->Sync().ok());
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_THAT(reqs[0].path, HasSubstr("fieldManager=devicepool-agent"));
  EXPECT_THAT(reqs[0].path, HasSubstr("force=true"));
  EXPECT_EQ(reqs[0].content_type, "application/apply-patch+yaml");
  nlohmann::json object = nlohmann::json::parse(reqs[0].body);
  EXPECT_EQ(object["metadata"]["ownerReferences"][0]["uid"], "uid-1");
  EXPECT_FALSE(object.contains("status"));
  nlohmann::json status = nlohmann::json::parse(reqs[1].body);
  EXPECT_EQ(status["status"]["devices"][0]["id"], "sim-0");
  EXPECT_EQ(status["status"]["registered"], true);
  EXPECT_EQ(status["status"]["agentRevision"], "rev-2");

  ASSERT_TRUE(reporter->Sync().ok());
  ASSERT_TRUE(reporter->Sync().ok());
  EXPECT_EQ(Requests().size(), 2u) << "no change, no request";

  SetDevices(false);
  transport_->Respond(kStatusPatch, 200, "{}");
  ASSERT_TRUE(reporter->Sync().ok());
  reqs = Requests();
  ASSERT_EQ(reqs.size(), 3u) << "only the status is written again";
  EXPECT_THAT(reqs[2].path, HasSubstr("/status?"));
  EXPECT_EQ(nlohmann::json::parse(reqs[2].body)["status"]["devices"][0]["health"], "Unhealthy");
  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_report_writes_total", {{"result", "success"}}), 3);
}

TEST_F(ReporterTest, RecreatesADeletedObject) {
  transport_->Respond(kObjectPatch, 200, "{}");
  transport_->Respond(kStatusPatch, 200, "{}");
  auto reporter = NewReporter();
  ASSERT_TRUE(reporter->Sync().ok());
  SetDevices(false);
  transport_->Respond(kStatusPatch, 404, R"({"kind":"Status","reason":"NotFound","message":"gone"})");
  transport_->Respond(kObjectPatch, 200, "{}");
  transport_->Respond(kStatusPatch, 200, "{}");
  ASSERT_TRUE(reporter->Sync().ok());
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 5u);
  EXPECT_THAT(reqs[3].path, ::testing::Not(HasSubstr("/status")));
  EXPECT_THAT(reqs[4].path, HasSubstr("/status"));
}

TEST_F(ReporterTest, FailedWriteIsRetriedByTheNextSync) {
  transport_->Respond(kObjectPatch, 200, "{}");
  transport_->Respond(kStatusPatch, 503, "busy");
  auto reporter = NewReporter();
  EXPECT_FALSE(reporter->Sync().ok());
  transport_->Respond(kStatusPatch, 200, "{}");
  ASSERT_TRUE(reporter->Sync().ok());
  EXPECT_EQ(Requests().size(), 3u);
  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_report_writes_total", {{"result", "error"}}), 1);
}

TEST_F(ReporterTest, NoClientNoWrite) {
  auto reporter = NewReporter(/*client_ok=*/false);
  kube::Status st = reporter->Sync();
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("no kubeconfig"));
  EXPECT_TRUE(Requests().empty());
  EXPECT_FALSE(reporter->Sync().ok());
  EXPECT_EQ(factory_calls_, 2) << "the client is tried again";
}

TEST_F(ReporterTest, LoopWritesOnPokeAndBacksOffOnErrors) {
  transport_->Respond(kObjectPatch, 200, "{}");
  transport_->Respond(kStatusPatch, 200, "{}");
  auto reporter = NewReporter();
  reporter->Start();
  transport_->WaitForRequests(2);

  // The API server fails once: the retry waits for the backoff (1 s on the
  // fake clock), not for the 30 s resync.
  transport_->Respond(kStatusPatch, 500, "boom");
  {
    std::lock_guard<std::mutex> l(mu_);
    registered_ = false;
  }
  reporter->Poke();
  transport_->WaitForRequests(3);
  transport_->Respond(kStatusPatch, 200, "{}");
  clock_.BlockUntilWaiters(1);
  EXPECT_EQ(Requests().size(), 3u) << "nothing before the backoff passes";
  clock_.Step(std::chrono::seconds(1));
  transport_->WaitForRequests(4);
  EXPECT_EQ(nlohmann::json::parse(Requests()[3].body)["status"]["registered"], false);
  reporter->Stop();
}

// After an outage the backoff may have grown long; a new change must not wait
// for it (the finding: 12.3 s, up to 60 s, before the status was right).
TEST_F(ReporterTest, ANewChangeCutsALongBackoffShort) {
  transport_->Respond(kObjectPatch, 200, "{}");
  transport_->Respond(kStatusPatch, 200, "{}");
  auto reporter = NewReporter();
  reporter->Start();
  WaitForWrites(2);
  SetDevices(false);
  // The server answers with errors: 1, 2, 4, 8, 16 s of backoff.
  size_t writes = 2;
  for (int i = 0; i < 6; ++i) transport_->Respond(kStatusPatch, 500, "boom");
  reporter->Poke();
  for (int wait = 1; wait <= 16; wait *= 2) {
    WaitForWrites(++writes);
    clock_.BlockUntilWaiters(1);
    clock_.Step(std::chrono::seconds(wait));
  }
  WaitForWrites(++writes);  // the sixth failure; the next retry is 32 s away
  clock_.BlockUntilWaiters(1);
  transport_->Respond(kStatusPatch, 200, "{}");
  {
    std::lock_guard<std::mutex> l(mu_);
    registered_ = false;  // the next change
  }
  reporter->Poke();
  clock_.BlockUntilWaiters(1);
  clock_.Step(std::chrono::seconds(1));
  WaitForWrites(++writes);
  auto status = nlohmann::json::parse(Writes().back().body)["status"];
  EXPECT_EQ(status["devices"][0]["health"], "Unhealthy");
  EXPECT_EQ(status["registered"], false);
  reporter->Stop();
}

// While the server cannot be reached, retries come every second, so the
// report is current about a second after the server is back.
TEST_F(ReporterTest, AnUnreachableServerIsTriedEverySecond) {
  auto reporter = NewReporter();
  reporter->Start();
  // Nothing scripted: every request fails as a connection would.
  for (size_t n = 1; n < 8; ++n) {
    transport_->WaitForRequests(n);
    clock_.BlockUntilWaiters(1);
    clock_.Step(std::chrono::seconds(1));
  }
  transport_->WaitForRequests(8);
  clock_.BlockUntilWaiters(1);
  transport_->Respond(kObjectPatch, 200, "{}");
  transport_->Respond(kStatusPatch, 200, "{}");
  clock_.Step(std::chrono::seconds(1));
  WaitForWrites(10);
  EXPECT_EQ(Writes().back().path.find(kStatusPatch + 6), 0u) << Writes().back().path;
  reporter->Stop();
}

// The finding: a DevicePoolNode deleted by hand stayed gone until a device
// happened to change. The reporter watches its object and writes it again.
TEST_F(ReporterTest, WatchWritesADeletedObjectAgain) {
  const std::string obj =
      R"({"apiVersion":"hashfoundry.com/v1alpha1","kind":"DevicePoolNode","metadata":{"name":"gpu.n1",)"
      R"("resourceVersion":"5"},"spec":{"pool":"gpu","node":"n1"}})";
  transport_->Respond("GET /apis/hashfoundry.com/v1alpha1/devicepoolnodes?fieldSelector=metadata.name%3Dgpu.n1", 200,
                      R"({"metadata":{"resourceVersion":"5"},"items":[]})");
  kube::testing::FakeStream events;
  events.chunks = {R"({"type":"DELETED","object":)" + obj + "}\n"};
  events.hold_open = true;
  transport_->Respond(kObjectPatch, 200, "{}");
  transport_->Respond(kStatusPatch, 200, "{}");
  transport_->Respond(kObjectPatch, 200, "{}");
  transport_->Respond(kStatusPatch, 200, "{}");
  auto reporter = NewReporter(/*client_ok=*/true, /*watch=*/true);
  reporter->Start();
  WaitForWrites(2);
  // The deletion arrives only now, after the first write.
  transport_->RespondStream("GET /apis/hashfoundry.com/v1alpha1/devicepoolnodes?watch=true", events);
  WaitForWrites(4);
  auto writes = Writes();
  EXPECT_THAT(writes[2].path, ::testing::Not(HasSubstr("/status")));
  EXPECT_THAT(writes[3].path, HasSubstr("/status"));
  reporter->Stop();
}

// A rollout trusts status.agentRevision to say which agent wrote the report,
// so a report showing another revision is not left standing.
TEST_F(ReporterTest, WatchWritesAgainAReportShowingAnotherRevision) {
  const std::string obj =
      R"({"apiVersion":"hashfoundry.com/v1alpha1","kind":"DevicePoolNode","metadata":{"name":"gpu.n1",)"
      R"("resourceVersion":"6"},"spec":{"pool":"gpu","node":"n1"},"status":{)"
      R"("devices":[{"id":"sim-0","health":"Healthy"}],"counts":{"total":1,"healthy":1,"allocated":0},)"
      R"("registered":true,"agentVersion":")" +
      std::string(kAgentVersion) + R"(","agentRevision":"rev-1"}})";
  transport_->Respond("GET /apis/hashfoundry.com/v1alpha1/devicepoolnodes?fieldSelector=metadata.name%3Dgpu.n1", 200,
                      R"({"metadata":{"resourceVersion":"5"},"items":[]})");
  kube::testing::FakeStream events;
  events.chunks = {R"({"type":"ADDED","object":)" + obj + "}\n"};
  events.hold_open = true;
  transport_->Respond(kObjectPatch, 200, "{}");
  transport_->Respond(kStatusPatch, 200, "{}");
  transport_->Respond(kObjectPatch, 200, "{}");
  transport_->Respond(kStatusPatch, 200, "{}");
  auto reporter = NewReporter(/*client_ok=*/true, /*watch=*/true);
  reporter->Start();
  WaitForWrites(2);
  // The reporter has taken note of its write (it compares what the watch
  // shows with that) once it is back waiting on the clock.
  clock_.BlockUntilWaiters(1);
  transport_->RespondStream("GET /apis/hashfoundry.com/v1alpha1/devicepoolnodes?watch=true", events);
  WaitForWrites(4);
  auto writes = Writes();
  EXPECT_THAT(writes[3].path, HasSubstr("/status"));
  EXPECT_EQ(nlohmann::json::parse(writes[3].body)["status"]["agentRevision"], "rev-2");
  reporter->Stop();
}

}  // namespace
}  // namespace hf::agent
