// Leader election, Events and discovery against a real kube-apiserver
// (tests/cluster). Leader election runs between separate processes
// (hf_leader_elect_probe), so a leader can be stopped or killed for real.
#include <gtest/gtest.h>

#include <csignal>
#include <set>
#include <sstream>

#include "kube/discovery/discovery.h"
#include "kube/events/event_recorder.h"
#include "kube/rest/client.h"
#include "tests/testing/cluster.h"

namespace hf::kube {
namespace {

using hf::testing::ChildProcess;
using hf::testing::Eventually;
using hf::testing::LocalCluster;
using hf::testing::UniqueName;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

// The probe's lease duration.
constexpr auto kLeaseDuration = seconds(4);

// A probe process; the test reads the lines it prints (its log).
class Candidate {
 public:
  Candidate(LocalCluster& cluster, const std::string& ns, const std::string& identity)
      : proc_(ChildProcess::Start({HF_LEADER_ELECT_PROBE, cluster.kubeconfig(), ns, "lock", identity},
                                  cluster.dir() + "/" + ns + "-" + identity + ".log")) {
    if (!proc_) ADD_FAILURE() << "cannot start " << HF_LEADER_ELECT_PROBE;
  }

  // Waits until `line` has been printed, or `timeout` passes.
  bool WaitForLine(const std::string& line, milliseconds timeout) {
    return Eventually([&] { return Saw(line); }, timeout, milliseconds(10));
  }
  // Whether `line` has been printed, as a whole line.
  bool Saw(const std::string& line) {
    if (!proc_) return false;
    std::istringstream log(proc_->Log());
    for (std::string l; std::getline(log, l);) {
      if (l == line) return true;
    }
    return false;
  }

  void Signal(int sig) { proc_->Signal(sig); }
  // The exit code, or 128 + the signal that ended it.
  int Wait() { return proc_->Wait(); }

 private:
  std::unique_ptr<ChildProcess> proc_;
};

// Each test gets a fresh namespace.
class NamespacedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = cluster_.AdminClient();
    ns_ = UniqueName("le-it");
    auto created = client_->Create(resources::Namespaces(), "", Json{{"metadata", {{"name", ns_}}}});
    ASSERT_TRUE(created.ok()) << created.status().ToString();
  }
  void TearDown() override { (void)client_->Delete(resources::Namespaces(), "", ns_); }

  LocalCluster& cluster_ = LocalCluster::Shared();
  std::unique_ptr<Client> client_;
  std::string ns_;
};

class LeaderElectionIntegrationTest : public NamespacedTest {
 protected:
  Json Lease() {
    auto lease = client_->Get(resources::Leases(), ns_, "lock");
    EXPECT_TRUE(lease.ok()) << lease.status().ToString();
    return lease.ok() ? (*lease)["spec"] : Json::object();
  }

  // Starts A, waits until it leads, then starts B and waits until B has seen
  // A as the leader.
  void StartAThenB(std::unique_ptr<Candidate>& a, std::unique_ptr<Candidate>& b) {
    a = std::make_unique<Candidate>(cluster_, ns_, "a");
    ASSERT_TRUE(a->WaitForLine("LEADING", seconds(30)));
    b = std::make_unique<Candidate>(cluster_, ns_, "b");
    ASSERT_TRUE(b->WaitForLine("LEADER a", seconds(30)));
  }
};

TEST_F(LeaderElectionIntegrationTest, SigtermHandsOverWithinOneLeaseDuration) {
  std::unique_ptr<Candidate> a, b;
  StartAThenB(a, b);
  // A keeps renewing while B runs, and B keeps waiting.
  const std::string renewed_at = Lease()["renewTime"];
  ASSERT_TRUE(Eventually([&] { return Lease()["renewTime"] != renewed_at; }, seconds(10)));
  EXPECT_EQ(Lease()["holderIdentity"], "a");
  EXPECT_FALSE(b->Saw("LEADING"));

  const auto stopped_at = steady_clock::now();
  a->Signal(SIGTERM);
  ASSERT_TRUE(b->WaitForLine("LEADING", kLeaseDuration));
  EXPECT_LT(steady_clock::now() - stopped_at, kLeaseDuration);
  EXPECT_EQ(a->Wait(), 0);
  Json lease = Lease();
  EXPECT_EQ(lease["holderIdentity"], "b");
  EXPECT_EQ(lease["leaseTransitions"], 1);
}

TEST_F(LeaderElectionIntegrationTest, AKilledLeaderIsReplacedAfterTheLeaseExpires) {
  std::unique_ptr<Candidate> a, b;
  StartAThenB(a, b);

  const auto killed_at = steady_clock::now();
  a->Signal(SIGKILL);
  EXPECT_EQ(a->Wait(), 128 + SIGKILL);
  EXPECT_EQ(Lease()["holderIdentity"], "a");  // nothing released it
  // Expiry is judged from when B last saw A renew: at most one lease
  // duration, plus a retry period and some slack for a loaded machine.
  ASSERT_TRUE(b->WaitForLine("LEADING", kLeaseDuration + seconds(6)));
  EXPECT_GE(steady_clock::now() - killed_at, seconds(1));  // it did wait for expiry
  Json lease = Lease();
  EXPECT_EQ(lease["holderIdentity"], "b");
  EXPECT_EQ(lease["leaseTransitions"], 1);
}

class EventRecorderIntegrationTest : public NamespacedTest {
 protected:
  // The Events in `ns` about `regarding_name` with `reason`.
  std::vector<Json> EventsFor(const std::string& ns, const std::string& regarding_name, const std::string& reason) {
    std::vector<Json> out;
    auto page = client_->List(resources::Events(), ns);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (!page.ok()) return out;
    for (auto& ev : page->items) {
      if (ev["regarding"]["name"] == regarding_name && ev["reason"] == reason) out.push_back(ev);
    }
    return out;
  }

  EventRecorderOptions Options() {
    EventRecorderOptions o;
    o.reporting_controller = "hashfoundry.com/integration-test";
    o.reporting_instance = UniqueName("instance");
    return o;
  }
};

TEST_F(EventRecorderIntegrationTest, RecordsAndAggregatesEvents) {
  auto cm = client_->Create(resources::ConfigMaps(), ns_,
                            Json{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "cm"}}}});
  ASSERT_TRUE(cm.ok()) << cm.status().ToString();
  ObjectReference ref{"v1", "ConfigMap", "cm", ns_, (*cm)["metadata"]["uid"].get<std::string>()};
  EventRecorderImpl recorder(*client_, Options());

  recorder.Eventf(ref, EventType::kNormal, "Tested", "Test", "hello");
  ASSERT_TRUE(Eventually([&] { return !EventsFor(ns_, "cm", "Tested").empty(); }, seconds(10)));
  Json ev = EventsFor(ns_, "cm", "Tested")[0];
  EXPECT_EQ(ev["note"], "hello");
  EXPECT_EQ(ev["type"], "Normal");
  EXPECT_EQ(ev["regarding"]["uid"], ref.uid);
  EXPECT_EQ(ev["reportingController"], "hashfoundry.com/integration-test");

  // The first occurrence is created alone, so the other 49 reach it by patch.
  auto repeat = [&] { recorder.Eventf(ref, EventType::kWarning, "Repeated", "Test", "again"); };
  repeat();
  ASSERT_TRUE(Eventually([&] { return !EventsFor(ns_, "cm", "Repeated").empty(); }, seconds(10)));
  for (int i = 1; i < 50; ++i) repeat();
  // One series update interval (10 s) at most, plus slack.
  ASSERT_TRUE(Eventually(
      [&] {
        auto evs = EventsFor(ns_, "cm", "Repeated");
        return evs.size() == 1 && evs[0].contains("series") && evs[0]["series"]["count"] == 50;
      },
      seconds(30)));
  EXPECT_EQ(EventsFor(ns_, "cm", "Repeated").size(), 1u);
  EXPECT_EQ(recorder.Dropped(), 0u);
}

TEST_F(EventRecorderIntegrationTest, ClusterScopedObjectsGetEventsInDefault) {
  auto nsobj = client_->Get(resources::Namespaces(), "", ns_);
  ASSERT_TRUE(nsobj.ok()) << nsobj.status().ToString();
  ObjectReference ref{"v1", "Namespace", ns_, "", (*nsobj)["metadata"]["uid"].get<std::string>()};
  EventRecorderImpl recorder(*client_, Options());
  recorder.Eventf(ref, EventType::kNormal, "Tested", "Test", "about a cluster-scoped object");
  recorder.Shutdown();
  ASSERT_TRUE(Eventually([&] { return EventsFor("default", ns_, "Tested").size() == 1; }, seconds(10)));
  EXPECT_EQ(recorder.Dropped(), 0u);
}

TEST(DiscoveryIntegrationTest, ServedAndUnservedResources) {
  auto client = LocalCluster::Shared().AdminClient();
  ServerDiscovery discovery(*client);
  auto leases = discovery.IsServed(resources::Leases());
  ASSERT_TRUE(leases.ok()) << leases.status().ToString();
  EXPECT_TRUE(*leases);
  auto config_maps = discovery.IsServed(resources::ConfigMaps());
  ASSERT_TRUE(config_maps.ok()) << config_maps.status().ToString();
  EXPECT_TRUE(*config_maps);
  auto widgets = discovery.IsServed({"coordination.k8s.io", "v1", "widgets", true});
  ASSERT_TRUE(widgets.ok()) << widgets.status().ToString();
  EXPECT_FALSE(*widgets);
  auto made_up = discovery.IsServed({"made-up.hashfoundry.com", "v1", "things", false});
  ASSERT_TRUE(made_up.ok()) << made_up.status().ToString();
  EXPECT_FALSE(*made_up);
}

}  // namespace
}  // namespace hf::kube
