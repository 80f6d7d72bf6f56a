#include "kube/leaderelection/leader_elector.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "tests/kube/testing/fake_transport.h"

namespace hf::kube {
namespace {

using std::chrono::seconds;
using testing::FakeTransport;

constexpr char kLeases[] = "/apis/coordination.k8s.io/v1/namespaces/ns/leases";
constexpr char kNotFound[] = R"({"kind":"Status","reason":"NotFound","code":404})";
constexpr char kConflict[] = R"({"kind":"Status","reason":"Conflict","code":409})";

// FakeClock's wall clock starts at 2026-01-01T00:00:00Z.
std::string WallAt(int second) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "2026-01-01T00:00:%02d.000000Z", second);
  return buf;
}

std::string LeaseJson(const std::string& holder, const std::string& renew_time, int transitions,
                      const std::string& rv) {
  Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", "lock"}, {"namespace", "ns"}, {"resourceVersion", rv}}},
                {"spec",
                 {{"holderIdentity", holder},
                  {"leaseDurationSeconds", 15},
                  {"acquireTime", renew_time},
                  {"renewTime", renew_time},
                  {"leaseTransitions", transitions}}}};
  return lease.dump();
}

class LeaderElectorTest : public ::testing::Test {
 protected:
  void Start() {
    LeaderElectionConfig config;
    config.namespace_ = "ns";
    config.name = "lock";
    config.identity = "me";
    config.clock = &clock_;
    config.callbacks.on_started_leading = [this](std::stop_token stop) { Lead(stop); };
    config.callbacks.on_stopped_leading = [this] {
      std::lock_guard<std::mutex> l(mu_);
      ++stopped_;
    };
    config.callbacks.on_new_leader = [this](const std::string& id) {
      std::lock_guard<std::mutex> l(mu_);
      new_leaders_.push_back(id);
    };
    auto elector = LeaderElector::New(client_, std::move(config));
    ASSERT_TRUE(elector.ok()) << elector.status().ToString();
    elector_ = std::move(*elector);
    runner_ = std::jthread([this](std::stop_token stop) { elector_->Run(stop); });
  }

  // Leader-only work: runs until its token is stopped and notes how many
  // requests had been sent by then.
  void Lead(std::stop_token stop) {
    std::unique_lock<std::mutex> l(mu_);
    started_ = true;
    changed_.notify_all();
    changed_.wait(l, stop, [] { return false; });
    requests_when_work_stopped_ = transport_->requests().size();
  }

  void WaitStarted() {
    std::unique_lock<std::mutex> l(mu_);
    changed_.wait(l, [this] { return started_; });
  }

  // Acquires an absent Lease: GET 404, POST (resourceVersion 1).
  void AcquireByCreate() {
    transport_->Respond(std::string("GET ") + kLeases + "/lock", 404, kNotFound);
    transport_->Respond(std::string("POST ") + kLeases, 201, LeaseJson("me", WallAt(0), 0, "1"));
    Start();
    WaitStarted();
    clock_.BlockUntilWaiters(1);
  }

  // Lets one retry period pass once Run waits, then waits until Run has sent
  // `total` requests and (if `waits_again`) is waiting again.
  void StepRetry(size_t total, bool waits_again = true) {
    clock_.BlockUntilWaiters(1);
    clock_.Step(seconds(2));
    transport_->WaitForRequests(total);
    if (waits_again) clock_.BlockUntilWaiters(1);
  }

  Json Body(size_t i) const { return Json::parse(transport_->requests().at(i).body); }
  std::string Method(size_t i) const { return transport_->requests().at(i).method; }
  size_t Requests() const { return transport_->requests().size(); }

  std::shared_ptr<FakeTransport> transport_ = std::make_shared<FakeTransport>();
  FakeClock clock_;
  Client client_{transport_, ClientOptions{nullptr, &clock_, nullptr, 0}};

  std::mutex mu_;
  std::condition_variable_any changed_;
  bool started_ = false;                  // guarded by mu_
  int stopped_ = 0;                       // guarded by mu_
  std::vector<std::string> new_leaders_;  // guarded by mu_
  size_t requests_when_work_stopped_ = 0;  // guarded by mu_

  std::unique_ptr<LeaderElector> elector_;
  std::jthread runner_;  // last: stopped and joined first
};

TEST_F(LeaderElectorTest, CreatesAnAbsentLeaseAndLeads) {
  AcquireByCreate();
  ASSERT_EQ(Requests(), 2u);
  EXPECT_EQ(Method(0), "GET");
  EXPECT_EQ(Method(1), "POST");
  Json created = Body(1);
  EXPECT_EQ(created["metadata"]["name"], "lock");
  EXPECT_EQ(created["spec"]["holderIdentity"], "me");
  EXPECT_EQ(created["spec"]["leaseDurationSeconds"], 15);
  EXPECT_EQ(created["spec"]["leaseTransitions"], 0);
  EXPECT_EQ(created["spec"]["acquireTime"], WallAt(0));
  EXPECT_EQ(created["spec"]["renewTime"], WallAt(0));
  EXPECT_TRUE(elector_->IsLeader());
  EXPECT_EQ(elector_->GetLeader(), "me");
  std::lock_guard<std::mutex> l(mu_);
  EXPECT_EQ(new_leaders_, std::vector<std::string>{"me"});
}

TEST_F(LeaderElectorTest, RenewsEveryRetryPeriodWithTheLastResourceVersion) {
  AcquireByCreate();
  transport_->Respond(std::string("PUT ") + kLeases + "/lock", 200, LeaseJson("me", WallAt(2), 0, "2"));
  StepRetry(3);
  transport_->Respond(std::string("PUT ") + kLeases + "/lock", 200, LeaseJson("me", WallAt(4), 0, "3"));
  StepRetry(4);

  ASSERT_EQ(Requests(), 4u);
  // A current leader writes without reading first.
  EXPECT_EQ(Method(2), "PUT");
  EXPECT_EQ(Method(3), "PUT");
  Json first = Body(2);
  EXPECT_EQ(first["metadata"]["resourceVersion"], "1");
  EXPECT_EQ(first["spec"]["renewTime"], WallAt(2));
  EXPECT_EQ(first["spec"]["acquireTime"], WallAt(0));
  EXPECT_EQ(first["spec"]["leaseTransitions"], 0);
  EXPECT_EQ(Body(3)["metadata"]["resourceVersion"], "2");
  EXPECT_EQ(Body(3)["spec"]["renewTime"], WallAt(4));
  EXPECT_TRUE(elector_->IsLeader());
}

TEST_F(LeaderElectorTest, RespectsAForeignLeaseThatKeepsBeingRenewed) {
  // The holder's renewTime is years behind our wall clock (skew), but each
  // read shows it renewed, so by our own clock it never expires.
  for (int i = 0; i <= 15; ++i) {
    transport_->Respond(std::string("GET ") + kLeases + "/lock", 200,
                        LeaseJson("other", "2020-01-01T00:00:" + std::to_string(10 + i) + ".000000Z", 0,
                                  std::to_string(10 + i)));
  }
  Start();
  clock_.BlockUntilWaiters(1);
  EXPECT_EQ(elector_->GetLeader(), "other");
  for (size_t i = 2; i <= 16; ++i) StepRetry(i);  // 30 s, twice the lease duration

  EXPECT_FALSE(elector_->IsLeader());
  for (size_t i = 0; i < Requests(); ++i) EXPECT_EQ(Method(i), "GET") << i;
  std::lock_guard<std::mutex> l(mu_);
  EXPECT_FALSE(started_);
  EXPECT_EQ(new_leaders_, std::vector<std::string>{"other"});
}

TEST_F(LeaderElectorTest, TakesOverAnExpiredLeaseAndCountsTheTransition) {
  // The same record on every read: its holder stopped renewing.
  for (int i = 0; i <= 8; ++i) {
    transport_->Respond(std::string("GET ") + kLeases + "/lock", 200, LeaseJson("other", WallAt(0), 3, "7"));
  }
  Start();
  for (size_t i = 2; i <= 8; ++i) StepRetry(i);  // up to 14 s: not yet expired
  EXPECT_FALSE(elector_->IsLeader());
  EXPECT_EQ(Requests(), 8u);

  transport_->Respond(std::string("PUT ") + kLeases + "/lock", 200, LeaseJson("me", WallAt(16), 4, "8"));
  StepRetry(10);  // 16 s: GET, then the takeover
  WaitStarted();
  EXPECT_EQ(Method(9), "PUT");
  Json taken = Body(9);
  EXPECT_EQ(taken["metadata"]["resourceVersion"], "7");
  EXPECT_EQ(taken["spec"]["holderIdentity"], "me");
  EXPECT_EQ(taken["spec"]["leaseTransitions"], 4);
  EXPECT_EQ(taken["spec"]["acquireTime"], WallAt(16));
  EXPECT_TRUE(elector_->IsLeader());
  std::lock_guard<std::mutex> l(mu_);
  EXPECT_EQ(new_leaders_, (std::vector<std::string>{"other", "me"}));
}

TEST_F(LeaderElectorTest, GivesUpAfterRenewDeadlineOfFailures) {
  AcquireByCreate();
  // Nothing more is scripted, so every request fails; each round tries the
  // optimistic PUT, then a GET.
  for (size_t round = 1; round <= 4; ++round) {
    StepRetry(2 + 2 * round);
    EXPECT_TRUE(elector_->IsLeader()) << "after " << 2 * round << " s";
  }
  StepRetry(2 + 2 * 5 + 1, /*waits_again=*/false);  // 10 s: the deadline, then a release attempt
  runner_.join();  // Run returns by itself

  EXPECT_FALSE(elector_->IsLeader());
  ASSERT_EQ(Requests(), 13u);
  EXPECT_EQ(Method(12), "PUT");
  EXPECT_EQ(Body(12)["spec"]["holderIdentity"], "");
  std::lock_guard<std::mutex> l(mu_);
  EXPECT_EQ(stopped_, 1);
  EXPECT_EQ(requests_when_work_stopped_, 12u);  // the work stopped before the release
}

TEST_F(LeaderElectorTest, ReleasesTheLeaseOnStop) {
  AcquireByCreate();
  transport_->Respond(std::string("PUT ") + kLeases + "/lock", 200, LeaseJson("", WallAt(0), 0, "2"));
  runner_.request_stop();
  runner_.join();

  ASSERT_EQ(Requests(), 3u);
  EXPECT_EQ(Method(2), "PUT");
  Json released = Body(2);
  EXPECT_EQ(released["metadata"]["resourceVersion"], "1");
  EXPECT_EQ(released["spec"]["holderIdentity"], "");
  EXPECT_EQ(released["spec"]["leaseDurationSeconds"], 1);
  EXPECT_EQ(released["spec"]["leaseTransitions"], 0);
  EXPECT_FALSE(elector_->IsLeader());
  EXPECT_EQ(elector_->GetLeader(), "");
  std::lock_guard<std::mutex> l(mu_);
  EXPECT_EQ(stopped_, 1);
  EXPECT_EQ(requests_when_work_stopped_, 2u);  // the work stopped before the release
}

TEST_F(LeaderElectorTest, ConflictOnRenewRereadsAndStepsDownForTheNewHolder) {
  AcquireByCreate();
  transport_->Respond(std::string("PUT ") + kLeases + "/lock", 409, kConflict);
  transport_->Respond(std::string("GET ") + kLeases + "/lock", 200, LeaseJson("other", WallAt(1), 1, "9"));
  StepRetry(4, /*waits_again=*/false);
  runner_.join();  // lost without waiting for the renew deadline

  EXPECT_EQ(Requests(), 4u);  // no release: the Lease is not ours
  EXPECT_FALSE(elector_->IsLeader());
  EXPECT_EQ(elector_->GetLeader(), "other");
  std::lock_guard<std::mutex> l(mu_);
  EXPECT_EQ(stopped_, 1);
  EXPECT_EQ(new_leaders_, (std::vector<std::string>{"me", "other"}));
}

TEST(LeaderElectorConfigTest, RejectsInconsistentDurations) {
  auto transport = std::make_shared<FakeTransport>();
  Client client(transport);
  LeaderElectionConfig good;
  good.namespace_ = "ns";
  good.name = "lock";
  good.identity = "me";
  good.callbacks.on_started_leading = [](std::stop_token) {};
  good.callbacks.on_stopped_leading = [] {};
  EXPECT_TRUE(LeaderElector::New(client, good).ok());

  LeaderElectionConfig c = good;
  c.lease_duration = c.renew_deadline;
  EXPECT_TRUE(IsInvalid(LeaderElector::New(client, c).status()));
  c = good;
  c.retry_period = seconds(9);  // 1.2 * 9 > renew_deadline
  EXPECT_TRUE(IsInvalid(LeaderElector::New(client, c).status()));
  c = good;
  c.identity.clear();
  EXPECT_TRUE(IsInvalid(LeaderElector::New(client, c).status()));
  c = good;
  c.callbacks.on_stopped_leading = nullptr;
  EXPECT_TRUE(IsInvalid(LeaderElector::New(client, c).status()));
}

}  // namespace
}  // namespace hf::kube
