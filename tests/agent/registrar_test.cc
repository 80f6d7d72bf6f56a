// Registrar against a FakeKubelet in a temp device-plugins directory:
// registration after serving, a kubelet that comes later, kubelet restarts
// and a deleted socket seen through inotify, a lost ListAndWatch stream,
// and retries of a refused registration. The registrar's clock is a
// FakeClock that reports the deadline of each wait begun on it: only the
// retry tests step it (once the registrar waits on it), so everything else
// is driven by events alone. Waits are on condition variables, bounded in
// real time only for a test that fails.
#include "agent/registrar.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <vector>

#include <prometheus/registry.h>

#include "tests/agent/testing/fake_kubelet.h"
#include "tests/agent/testing/metrics.h"
#include "tests/agent/testing/temp_dir.h"
#include "tests/agent/testing/wait_hook_clock.h"

namespace hf::agent {
namespace {

using testing::FakeKubelet;
using testing::MetricValue;
using testing::TempDir;

constexpr auto kBound = std::chrono::seconds(10);  // only a failing test waits this long
constexpr auto kInitialBackoff = std::chrono::milliseconds(10);
constexpr auto kMaxBackoff = 4 * kInitialBackoff;
constexpr auto kResync = std::chrono::hours(1);

class RegistrarTest : public ::testing::Test {
 protected:
  RegistrarTest() {
    t_.MakeDirs("kubelet");
    Device d;
    d.id = "sim-0";
    (void)store_.Update(std::vector<Device>{d});
  }

  void StartAgent() {
    ASSERT_TRUE(server_.Start().ok());
    RegistrarOptions options{t_.Path("kubelet"), "hashfoundry.com/custom-device",
                             PluginOptions({"hashfoundry.com/custom-device", api::AllocationPolicy::kPacked})};
    options.resync = kResync;
    options.initial_backoff = kInitialBackoff;
    options.max_backoff = kMaxBackoff;
    registrar_ = std::make_unique<Registrar>(options, server_, metrics_, clock_);
    registrar_->AddListener([this](bool registered) {
      std::lock_guard<std::mutex> l(mu_);
      registered_ = registered;
      if (registered) ++times_registered_;
      cv_.notify_all();
    });
    ASSERT_TRUE(registrar_->Start().ok());
  }

  bool WaitTimesRegistered(int n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, kBound, [&] { return times_registered_ >= n; });
  }

  bool WaitRegistered(bool want) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, kBound, [&] { return registered_ == want; });
  }

  // Blocks until the registrar's alarm waits for a deadline other than the
  // one this last returned; returns how far that is from Now. Only the test
  // steps the clock, so Now holds still meanwhile.
  std::optional<kube::Clock::Duration> NextWait() {
    kube::Clock::TimePoint now = clock_.Now();
    std::unique_lock<std::mutex> l(mu_);
    if (!cv_.wait_for(l, kBound, [&] { return deadline_ != returned_deadline_; })) return std::nullopt;
    returned_deadline_ = deadline_;
    return *deadline_ - now;
  }

  std::string our_socket() const { return t_.Path("kubelet/hashfoundry.com_custom-device.sock"); }

  // First, so they outlive the registrar's threads, which report into them.
  std::mutex mu_;
  std::condition_variable cv_;
  bool registered_ = false;
  int times_registered_ = 0;
  // Of the clock's latest wait, the registrar's alarm being its only waiter.
  std::optional<kube::Clock::TimePoint> deadline_;           // guarded by mu_
  std::optional<kube::Clock::TimePoint> returned_deadline_;  // guarded by mu_
  TempDir t_;
  testing::WaitHookClock clock_{[this](kube::Clock::TimePoint deadline) {
    std::lock_guard<std::mutex> l(mu_);
    deadline_ = deadline;
    cv_.notify_all();
  }};
  prometheus::Registry registry_;
  AgentMetrics metrics_{registry_, "gpu", "node-a"};
  DeviceStore store_{1};
  PluginServer server_{t_.Path("kubelet/hashfoundry.com_custom-device.sock"), store_, metrics_,
                       ServiceOptions{"hashfoundry.com/custom-device"}};
  FakeKubelet kubelet_{t_.Path("kubelet")};
  std::unique_ptr<Registrar> registrar_;
};

TEST_F(RegistrarTest, RegistersWithTheKubelet) {
  kubelet_.Start();
  StartAgent();
  ASSERT_TRUE(kubelet_.WaitForRegistrations(1, kBound));
  v1beta1::RegisterRequest r = kubelet_.requests()[0];
  EXPECT_EQ(r.version(), "v1beta1");
  EXPECT_EQ(r.endpoint(), "hashfoundry.com_custom-device.sock");
  EXPECT_EQ(r.resource_name(), "hashfoundry.com/custom-device");
  EXPECT_TRUE(r.options().get_preferred_allocation_available());
  EXPECT_TRUE(kubelet_.options_seen()[0].get_preferred_allocation_available())
      << "the kubelet could call the plugin during Register";
  ASSERT_TRUE(WaitRegistered(true));
  EXPECT_TRUE(registrar_->registered());
  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_registrations_total", {{"result", "success"}}), 1);
  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_registered"), 1);
}

// The registrar waits for its resync, an hour away on a clock that never
// moves here: the kubelet.sock event alone brings the registration.
TEST_F(RegistrarTest, WaitsForAKubeletThatIsNotThereYet) {
  StartAgent();
  clock_.BlockUntilWaiters(1);
  EXPECT_FALSE(registrar_->registered());
  kubelet_.Start();
  ASSERT_TRUE(kubelet_.WaitForRegistrations(1, kBound));
  EXPECT_EQ(kubelet_.attempts(), 1u) << "the first attempt, made on the event, succeeded";
  EXPECT_TRUE(WaitRegistered(true));
}

TEST_F(RegistrarTest, KubeletRestartRemovingOurSocketLeadsToANewSocketAndRegistration) {
  kubelet_.Start();
  StartAgent();
  ASSERT_TRUE(kubelet_.WaitForRegistrations(1, kBound));
  ASSERT_TRUE(WaitRegistered(true));

  // What a kubelet restart does: its socket goes, it removes every plugin
  // socket, then serves on a new kubelet.sock.
  kubelet_.Stop();
  ASSERT_TRUE(WaitRegistered(false));
  ASSERT_EQ(unlink(our_socket().c_str()), 0);
  kubelet_.Start();
  ASSERT_TRUE(kubelet_.WaitForRegistrations(2, kBound));
  ASSERT_TRUE(WaitRegistered(true));
  EXPECT_TRUE(server_.SocketIsOurs()) << "serving on a new socket";
  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_kubelet_restarts_total"), 1);
}

TEST_F(RegistrarTest, OwnSocketDeletedMeansServeAgainAndRegisterAgain) {
  kubelet_.Start();
  StartAgent();
  ASSERT_TRUE(kubelet_.WaitForRegistrations(1, kBound));
  ASSERT_EQ(unlink(our_socket().c_str()), 0);
  ASSERT_TRUE(kubelet_.WaitForRegistrations(2, kBound));
  EXPECT_TRUE(server_.SocketIsOurs());
  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_kubelet_restarts_total"), 0) << "same kubelet";
}

TEST_F(RegistrarTest, LostStreamMeansRegisterAgain) {
  kubelet_.Start();
  StartAgent();
  ASSERT_TRUE(kubelet_.WaitForRegistrations(1, kBound));
  ASSERT_TRUE(WaitRegistered(true));
  registrar_->RegistrationLost();
  ASSERT_TRUE(kubelet_.WaitForRegistrations(2, kBound));
  ASSERT_TRUE(WaitTimesRegistered(2));
  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_registrations_total", {{"result", "success"}}), 2);
}

// A refused Register is tried again once its backoff has passed on the
// clock, and not before. The registrar sets its next retry when an attempt
// fails, after the kubelet counted it, so each BlockUntilWaiters below
// returns once that retry is waited for.
TEST_F(RegistrarTest, RetriesARefusedRegistrationWhenItsBackoffPasses) {
  kubelet_.RefuseRegistrations(2);
  kubelet_.Start();
  StartAgent();
  ASSERT_TRUE(kubelet_.WaitForAttempts(1, kBound));
  clock_.BlockUntilWaiters(1);
  EXPECT_EQ(kubelet_.attempts(), 1u) << "retried before the backoff passed";
  clock_.Step(kInitialBackoff);
  ASSERT_TRUE(kubelet_.WaitForAttempts(2, kBound));

  // The registrar's alarm left the clock before it rang, so this waiter is
  // the second retry's; its backoff has doubled.
  clock_.BlockUntilWaiters(1);
  EXPECT_EQ(kubelet_.attempts(), 2u);
  clock_.Step(2 * kInitialBackoff);
  ASSERT_TRUE(kubelet_.WaitForRegistrations(1, kBound));
  ASSERT_TRUE(WaitRegistered(true));
  EXPECT_EQ(kubelet_.attempts(), 3u);
  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_registrations_total", {{"result", "error"}}), 2);
  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_registrations_total", {{"result", "success"}}), 1);
}

// Each refused Register doubles the wait before the next attempt, up to the
// maximum; a success starts it over. Every delay is read from the deadline
// the registrar's alarm waits for, and the clock is stepped by exactly that
// much to bring the next attempt.
TEST_F(RegistrarTest, BackoffDoublesUpToItsMaximumAndStartsOverAfterASuccess) {
  kubelet_.RefuseRegistrations(4);
  kubelet_.Start();
  StartAgent();
  std::vector<kube::Clock::Duration> delays;
  for (size_t attempts = 1; attempts <= 4; ++attempts) {
    ASSERT_TRUE(kubelet_.WaitForAttempts(attempts, kBound));
    std::optional<kube::Clock::Duration> delay = NextWait();
    ASSERT_TRUE(delay) << "no retry set after attempt " << attempts;
    delays.push_back(*delay);
    clock_.Step(*delay);
  }
  EXPECT_EQ(delays, (std::vector<kube::Clock::Duration>{kInitialBackoff, 2 * kInitialBackoff, kMaxBackoff,
                                                         kMaxBackoff}));
  ASSERT_TRUE(WaitRegistered(true));
  EXPECT_EQ(kubelet_.attempts(), 5u);
  EXPECT_EQ(NextWait(), kResync) << "registered, it waits for its resync";

  kubelet_.RefuseRegistrations(1);
  registrar_->RegistrationLost();
  ASSERT_TRUE(kubelet_.WaitForAttempts(6, kBound));
  EXPECT_EQ(NextWait(), kInitialBackoff);
  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_registrations_total", {{"result", "error"}}), 5);
  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_registrations_total", {{"result", "success"}}), 1);
}

// A new kubelet.sock resets the backoff: the restarted kubelet gets an
// attempt at once, though the clock never reaches the pending retry.
TEST_F(RegistrarTest, ARestartedKubeletIsNotKeptWaitingForTheBackoff) {
  kubelet_.RefuseRegistrations(1);
  kubelet_.Start();
  StartAgent();
  ASSERT_TRUE(kubelet_.WaitForAttempts(1, kBound));
  clock_.BlockUntilWaiters(1);  // the retry is pending
  kubelet_.Stop();
  kubelet_.Start();
  ASSERT_TRUE(kubelet_.WaitForRegistrations(1, kBound));
  ASSERT_TRUE(WaitRegistered(true));
  EXPECT_EQ(kubelet_.attempts(), 2u);
}

TEST_F(RegistrarTest, StopsPromptlyWithoutAKubelet) {
  StartAgent();
  registrar_->Stop();
  EXPECT_FALSE(registrar_->registered());
  EXPECT_TRUE(server_.running()) << "the server is the caller's to stop";
}

}  // namespace
}  // namespace hf::agent
