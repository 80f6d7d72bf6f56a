// AllocationTracker against a fake PodResourcesLister: the count, its
// metric, a recount after Allocate and every interval, and no socket
// meaning zero. Its clock is a FakeClock: each recount waits for a Step
// that reaches it, and the test steps only once the tracker waits
// (BlockUntilWaiters).
#include "agent/allocation_tracker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <prometheus/registry.h>

#include "podresources/v1/api.grpc.pb.h"
#include "tests/agent/testing/metrics.h"
#include "tests/agent/testing/temp_dir.h"

namespace hf::agent {
namespace {

using testing::MetricValue;
using testing::TempDir;

class CountingLister final : public v1::PodResourcesLister::Service {
 public:
  void set_held(int n) { held_ = n; }

  grpc::Status List(grpc::ServerContext*, const v1::ListPodResourcesRequest*,
                    v1::ListPodResourcesResponse* response) override {
    auto* devices = response->add_pod_resources()->add_containers()->add_devices();
    devices->set_resource_name("hashfoundry.com/custom-device");
    for (int i = 0; i < held_; ++i) devices->add_device_ids("d-" + std::to_string(i));
    return grpc::Status::OK;
  }

 private:
  std::atomic<int> held_{0};
};

constexpr auto kInterval = std::chrono::seconds(30);
constexpr auto kAfterAllocate = std::chrono::seconds(1);

class AllocationTrackerTest : public ::testing::Test {
 protected:
  std::unique_ptr<AllocationTracker> NewTracker() {
    auto tracker = std::make_unique<AllocationTracker>(
        AllocationTrackerOptions{t_.Path("pr.sock"), "hashfoundry.com/custom-device", kInterval, kAfterAllocate},
        metrics_, clock_);
    tracker->AddListener([this](int n) {
      std::lock_guard<std::mutex> l(mu_);
      seen_.push_back(n);
      cv_.notify_all();
    });
    return tracker;
  }

  void Serve() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + t_.Path("pr.sock"), grpc::InsecureServerCredentials());
    builder.RegisterService(&lister_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }

  bool WaitSeen(int n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(10), [&] { return !seen_.empty() && seen_.back() == n; });
  }

  TempDir t_;
  kube::FakeClock clock_;
  prometheus::Registry registry_;
  AgentMetrics metrics_{registry_, "gpu", "node-a"};
  CountingLister lister_;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> seen_;
};

TEST_F(AllocationTrackerTest, CountsAtStartAndAgainAfterAllocate) {
  lister_.set_held(2);
  Serve();
  auto tracker = NewTracker();
  tracker->Start();
  EXPECT_EQ(tracker->allocated(), 2) << "Start counts before returning";
  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_devices", {{"state", "allocated"}}), 2);

  lister_.set_held(3);
  tracker->Allocated();
  // The recount is due kAfterAllocate from now, set before Allocated
  // returned; it waits for the clock, however long the tracker takes to
  // wait again.
  clock_.BlockUntilWaiters(1);
  EXPECT_EQ(tracker->allocated(), 2) << "counted again before after_allocate passed";
  clock_.Step(kAfterAllocate);
  ASSERT_TRUE(WaitSeen(3));
  EXPECT_EQ(tracker->allocated(), 3);
  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_devices", {{"state", "allocated"}}), 3);
  tracker->Stop();
  server_->Shutdown();
}

TEST_F(AllocationTrackerTest, CountsAgainEveryInterval) {
  lister_.set_held(1);
  Serve();
  auto tracker = NewTracker();
  tracker->Start();
  EXPECT_EQ(tracker->allocated(), 1);

  // Nothing tells the tracker about these; only the interval does.
  lister_.set_held(4);
  clock_.BlockUntilWaiters(1);  // its first wait: the first interval runs from here
  EXPECT_EQ(tracker->allocated(), 1);
  clock_.Step(kInterval);
  ASSERT_TRUE(WaitSeen(4));

  // The tracker left the clock before it counted, so this waiter is the
  // second interval's.
  lister_.set_held(0);
  clock_.BlockUntilWaiters(1);
  EXPECT_EQ(tracker->allocated(), 4);
  clock_.Step(kInterval);
  ASSERT_TRUE(WaitSeen(0));
  tracker->Stop();
  server_->Shutdown();
}

TEST_F(AllocationTrackerTest, NoSocketMeansNothingAllocated) {
  auto tracker = NewTracker();
  tracker->Start();
  EXPECT_EQ(tracker->allocated(), 0);
  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_devices", {{"state", "allocated"}}), 0);
  EXPECT_TRUE(seen_.empty()) << "no change from the initial 0";
}

}  // namespace
}  // namespace hf::agent
