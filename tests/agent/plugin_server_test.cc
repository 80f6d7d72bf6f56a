// The device plugin service through a real gRPC channel to the server on a
// temp unix socket: options, ListAndWatch, Allocate (good and bad input),
// GetPreferredAllocation, PreStartContainer, and socket handling. The
// service's clock is a FakeClock.
#include "agent/plugin_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <prometheus/registry.h>

#include "agent/allocate_response.h"
#include "tests/agent/testing/metrics.h"
#include "tests/agent/testing/temp_dir.h"
#include "tests/agent/testing/wait_hook_clock.h"

namespace hf::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using testing::MetricValue;
using testing::TempDir;

constexpr auto kBound = std::chrono::seconds(10);  // only a failing test waits this long

class PluginServerTest : public ::testing::Test {
 protected:
  void Serve(int replicas, ServiceOptions options = {"hashfoundry.com/custom-device"}) {
    store_ = std::make_unique<DeviceStore>(replicas);
    t_.WriteFile("dev/sim-0");
    t_.WriteFile("dev/sim-1");
    t_.Symlink("/dev/null", "dev/accel0");
    std::vector<Device> devices;
    devices.push_back(FileDevice("sim-0", 0));
    devices.push_back(FileDevice("sim-1", 1));
    Device accel;
    accel.id = "accel0";
    accel.nodes.push_back({t_.Path("dev/accel0"), "/dev/accel0", NodeKind::kCharDevice});
    devices.push_back(accel);
    Device sick = FileDevice("sick", std::nullopt);
    sick.healthy = false;
    devices.push_back(sick);
    (void)store_->Update(devices);
    server_ = std::make_unique<PluginServer>(socket(), *store_, metrics_, std::move(options), clock_);
    server_->SetHooks({[this] {
                         std::lock_guard<std::mutex> l(mu_);
                         ++streams_lost_;
                         cv_.notify_all();
                       },
                       [this] { ++allocations_; }});
    ASSERT_TRUE(server_->Start().ok());
    stub_ = v1beta1::DevicePlugin::NewStub(
        grpc::CreateChannel("unix:" + socket(), grpc::InsecureChannelCredentials()));
  }

  Device FileDevice(const std::string& id, std::optional<int> numa) {
    Device d;
    d.id = id;
    d.numa_node = numa;
    d.nodes.push_back({t_.Path("dev/" + id), "/dev/" + id, NodeKind::kFile});
    return d;
  }

  std::string socket() const { return t_.Path("kubelet/hashfoundry.com_custom-device.sock"); }

  static std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return ctx;
  }

  grpc::Status Allocate(const std::vector<std::vector<std::string>>& containers, v1beta1::AllocateResponse* resp) {
    v1beta1::AllocateRequest req;
    for (const auto& ids : containers) {
      auto* c = req.add_container_requests();
      for (const auto& id : ids) c->add_devices_ids(id);
    }
    return stub_->Allocate(Ctx().get(), req, resp);
  }

  // First, so they outlive the server's threads, which report into them.
  std::mutex mu_;
  std::condition_variable cv_;
  int streams_lost_ = 0;  // guarded by mu_
  int stream_waits_ = 0;  // guarded by mu_
  std::atomic<int> allocations_{0};
  TempDir t_;
  // Moves only when ClientClosingTheStreamIsReported steps it; counts the
  // waits of the ListAndWatch streams, the only waiters on it.
  testing::WaitHookClock clock_{[this](kube::Clock::TimePoint) {
    std::lock_guard<std::mutex> l(mu_);
    ++stream_waits_;
    cv_.notify_all();
  }};
  prometheus::Registry registry_;
  AgentMetrics metrics_{registry_, "gpu", "node-a"};
  std::unique_ptr<DeviceStore> store_;
  std::unique_ptr<PluginServer> server_;
  std::unique_ptr<v1beta1::DevicePlugin::Stub> stub_;
};

TEST_F(PluginServerTest, OptionsFollowThePolicy) {
  Serve(1);
  v1beta1::DevicePluginOptions options;
  ASSERT_TRUE(stub_->GetDevicePluginOptions(Ctx().get(), v1beta1::Empty(), &options).ok());
  EXPECT_TRUE(options.get_preferred_allocation_available());
  EXPECT_FALSE(options.pre_start_required());
  EXPECT_FALSE(PluginOptions({"x/y", api::AllocationPolicy::kNone}).get_preferred_allocation_available());
  EXPECT_TRUE(PluginOptions({"x/y", api::AllocationPolicy::kBalanced}).get_preferred_allocation_available());
}

TEST_F(PluginServerTest, ListAndWatchSendsTheFullListOnEveryChangeAndEndsOnStop) {
  Serve(2);
  auto ctx = Ctx();
  auto reader = stub_->ListAndWatch(ctx.get(), v1beta1::Empty());
  v1beta1::ListAndWatchResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  ASSERT_EQ(resp.devices_size(), 8);
  EXPECT_EQ(resp.devices(0).id(), "accel0::0");
  EXPECT_EQ(resp.devices(0).health(), "Healthy");
  EXPECT_EQ(resp.devices(0).topology().nodes_size(), 0) << "no NUMA node, no topology";
  EXPECT_EQ(resp.devices(7).id(), "sim-1::1");
  ASSERT_EQ(resp.devices(7).topology().nodes_size(), 1);
  EXPECT_EQ(resp.devices(7).topology().nodes(0).id(), 1);
  EXPECT_EQ(resp.devices(2).id(), "sick::0");
  EXPECT_EQ(resp.devices(2).health(), "Unhealthy");

  // sim-0 disappears: the next message is the whole list again.
  auto devices = store_->Get()->set.devices();
  devices.erase(std::remove_if(devices.begin(), devices.end(), [](const Device& d) { return d.id == "sim-0"; }),
                devices.end());
  (void)store_->Update(devices);
  ASSERT_TRUE(reader->Read(&resp));
  ASSERT_EQ(resp.devices_size(), 8);
  EXPECT_EQ(resp.devices(4).id(), "sim-0::0");
  EXPECT_EQ(resp.devices(4).health(), "Unhealthy");

  server_->Stop();
  EXPECT_FALSE(reader->Read(&resp));
  EXPECT_TRUE(reader->Finish().ok()) << "a shutdown ends the stream cleanly";
  EXPECT_FALSE(t_.Exists("kubelet/hashfoundry.com_custom-device.sock")) << "Stop removes the socket";
  EXPECT_TRUE(t_.Exists("dev/sim-1")) << "devices are left alone";
}

TEST_F(PluginServerTest, EveryOpenStreamGetsEachChangeAndEndsOnStop) {
  Serve(1);
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1beta1::ListAndWatchResponse>>> readers;
  v1beta1::ListAndWatchResponse resp;
  for (int i = 0; i < 3; ++i) {
    contexts.push_back(Ctx());
    readers.push_back(stub_->ListAndWatch(contexts.back().get(), v1beta1::Empty()));
    ASSERT_TRUE(readers.back()->Read(&resp));
  }
  auto devices = store_->Get()->set.devices();
  devices.erase(std::remove_if(devices.begin(), devices.end(), [](const Device& d) { return d.id == "sim-0"; }),
                devices.end());
  (void)store_->Update(devices);
  for (auto& reader : readers) {
    ASSERT_TRUE(reader->Read(&resp));
    auto it = std::find_if(resp.devices().begin(), resp.devices().end(),
                           [](const v1beta1::Device& d) { return d.id() == "sim-0"; });
    ASSERT_NE(it, resp.devices().end());
    EXPECT_EQ(it->health(), "Unhealthy");
  }
  server_->Stop();
  for (auto& reader : readers) {
    EXPECT_FALSE(reader->Read(&resp));
    EXPECT_TRUE(reader->Finish().ok());
  }
  std::lock_guard<std::mutex> l(mu_);
  EXPECT_EQ(streams_lost_, 0) << "streams the agent ended are not lost registrations";
}

// A waiting stream looks for its client every 5 s on its clock (the
// synchronous API has no cancellation callback). gRPC tells the server of
// the cancel on threads of its own, at a moment no test can wait for; until
// then each check finds the client there and the stream waits again. So the
// test steps the clock once per wait of the stream, and after each step waits
// for what the stream does next: report the loss, or wait again. No real
// 5 s pass, and no step is made before the stream waits.
TEST_F(PluginServerTest, ClientClosingTheStreamIsReported) {
  Serve(1);
  auto ctx = Ctx();
  auto reader = stub_->ListAndWatch(ctx.get(), v1beta1::Empty());
  v1beta1::ListAndWatchResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  {
    std::unique_lock<std::mutex> l(mu_);
    ASSERT_TRUE(cv_.wait_for(l, kBound, [&] { return stream_waits_ > 0; })) << "the stream waits for a change";
  }
  ctx->TryCancel();
  std::unique_lock<std::mutex> l(mu_);
  EXPECT_EQ(streams_lost_, 0) << "reported before the stream's check";
  while (streams_lost_ == 0) {
    const int waits = stream_waits_;
    l.unlock();
    clock_.Step(std::chrono::seconds(5));
    l.lock();
    ASSERT_TRUE(cv_.wait_for(l, kBound, [&] { return streams_lost_ > 0 || stream_waits_ > waits; }))
        << "the stream neither reported nor waited again";
  }
  EXPECT_EQ(streams_lost_, 1);
}

TEST_F(PluginServerTest, AllocateMountsFilesAndPassesDeviceNodes) {
  Serve(1);
  v1beta1::AllocateResponse resp;
  grpc::Status st = Allocate({{"sim-1", "accel0"}}, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(resp.container_responses_size(), 1);
  const auto& c = resp.container_responses(0);
  EXPECT_THAT(c.envs(), UnorderedElementsAre(Pair("HASHFOUNDRY_DEVICE_IDS", "sim-1,accel0"),
                                             Pair("HASHFOUNDRY_DEVICE_COUNT", "2"),
                                             Pair("HASHFOUNDRY_DEVICE_ID", "sim-1"),
                                             Pair("HASHFOUNDRY_DEVICE_PATH", "/dev/sim-1"),
                                             Pair("HASHFOUNDRY_DEVICE_0_PATH", "/dev/sim-1"),
                                             Pair("HASHFOUNDRY_DEVICE_1_PATH", "/dev/accel0")));
  EXPECT_THAT(c.annotations(), UnorderedElementsAre(Pair(kDeviceIdsAnnotation, "sim-1,accel0")));
  ASSERT_EQ(c.mounts_size(), 1);
  EXPECT_EQ(c.mounts(0).host_path(), t_.Path("dev/sim-1"));
  EXPECT_EQ(c.mounts(0).container_path(), "/dev/sim-1");
  EXPECT_FALSE(c.mounts(0).read_only());
  ASSERT_EQ(c.devices_size(), 1);
  EXPECT_EQ(c.devices(0).host_path(), t_.Path("dev/accel0"));
  EXPECT_EQ(c.devices(0).container_path(), "/dev/accel0");
  EXPECT_EQ(c.devices(0).permissions(), "rw");
  EXPECT_EQ(c.cdi_devices_size(), 0);
  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_allocations_total", {{"result", "success"}}), 1);
  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_allocate_duration_seconds"), 1);
  EXPECT_EQ(allocations_, 1) << "the allocated hook ran";
}

TEST_F(PluginServerTest, ReplicasOfOneDeviceShareOneMount) {
  Serve(3);
  v1beta1::AllocateResponse resp;
  ASSERT_TRUE(Allocate({{"sim-0::2", "sim-0::0"}, {"sim-1::1"}}, &resp).ok());
  ASSERT_EQ(resp.container_responses_size(), 2);
  const auto& c = resp.container_responses(0);
  EXPECT_EQ(c.envs().at("HASHFOUNDRY_DEVICE_IDS"), "sim-0::2,sim-0::0");
  EXPECT_EQ(c.envs().at("HASHFOUNDRY_DEVICE_1_PATH"), "/dev/sim-0");
  EXPECT_EQ(c.mounts_size(), 1);
  EXPECT_EQ(resp.container_responses(1).mounts(0).container_path(), "/dev/sim-1");
}

TEST_F(PluginServerTest, CdiAnswersWithCdiDeviceNames) {
  Serve(1, {"hashfoundry.com/custom-device", api::AllocationPolicy::kPacked, /*cdi=*/true});
  v1beta1::AllocateResponse resp;
  ASSERT_TRUE(Allocate({{"sim-0", "accel0"}}, &resp).ok());
  const auto& c = resp.container_responses(0);
  ASSERT_EQ(c.cdi_devices_size(), 2);
  EXPECT_EQ(c.cdi_devices(0).name(), "hashfoundry.com/custom-device=sim-0");
  EXPECT_EQ(c.cdi_devices(1).name(), "hashfoundry.com/custom-device=accel0");
  EXPECT_EQ(c.mounts_size(), 0) << "the runtime applies the CDI spec instead";
  EXPECT_EQ(c.devices_size(), 0);
  EXPECT_EQ(c.envs().at("HASHFOUNDRY_DEVICE_COUNT"), "2");
}

struct BadAllocate {
  std::string name;
  std::vector<std::vector<std::string>> containers;
  grpc::StatusCode code;
  std::string want;
};

class BadAllocateTest : public PluginServerTest, public ::testing::WithParamInterface<BadAllocate> {};

TEST_P(BadAllocateTest, IsRefusedAndTheAgentKeepsServing) {
  Serve(1);
  v1beta1::AllocateResponse resp;
  grpc::Status st = Allocate(GetParam().containers, &resp);
  EXPECT_EQ(st.error_code(), GetParam().code);
  EXPECT_THAT(st.error_message(), HasSubstr(GetParam().want));
  EXPECT_LT(st.error_message().size(), 1024u) << "bounded message";
  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_allocations_total", {{"result", "error"}}), 1);
  EXPECT_EQ(allocations_, 0);

  ASSERT_TRUE(Allocate({{"sim-0"}}, &resp).ok()) << "still serving";
  EXPECT_EQ(resp.container_responses(0).envs().at("HASHFOUNDRY_DEVICE_IDS"), "sim-0");
}

std::vector<std::string> ManyIds(int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back("sim-" + std::to_string(i));
  return ids;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadAllocateTest,
    ::testing::Values(
        BadAllocate{"unknown", {{"sim-0", "nope"}}, grpc::StatusCode::INVALID_ARGUMENT, "unknown device ids: \"nope\""},
        BadAllocate{"duplicate", {{"sim-0", "sim-1", "sim-0"}}, grpc::StatusCode::INVALID_ARGUMENT,
                    "duplicate device ids: \"sim-0\""},
        BadAllocate{"duplicate_across_containers", {{"sim-0"}, {"sim-0"}}, grpc::StatusCode::INVALID_ARGUMENT,
                    "duplicate"},
        BadAllocate{"no_containers", {}, grpc::StatusCode::INVALID_ARGUMENT, "no container requests"},
        BadAllocate{"empty_ids", {{"sim-0"}, {}}, grpc::StatusCode::INVALID_ARGUMENT,
                    "container request 1 asks for no devices"},
        BadAllocate{"unhealthy", {{"sim-1", "sick"}}, grpc::StatusCode::FAILED_PRECONDITION,
                    "unhealthy device ids: \"sick\""},
        BadAllocate{"ten_thousand", {ManyIds(10000)}, grpc::StatusCode::INVALID_ARGUMENT,
                    "asks for 10000 devices; this node advertises 4"},
        BadAllocate{"many_unknown", {{"a", "b", "c"}, {"d", "e", "f", "g"}}, grpc::StatusCode::INVALID_ARGUMENT,
                    "\"e\" and 2 more"},
        BadAllocate{"huge_id", {{std::string(100000, 'x')}}, grpc::StatusCode::INVALID_ARGUMENT, "xxx...\""},
        BadAllocate{"empty_id", {{""}}, grpc::StatusCode::INVALID_ARGUMENT, "unknown device ids: \"\""}),
    [](const ::testing::TestParamInfo<BadAllocate>& info) { return info.param.name; });

TEST_F(PluginServerTest, GetPreferredAllocation) {
  Serve(1);
  v1beta1::PreferredAllocationRequest req;
  auto* c = req.add_container_requests();
  for (const char* id : {"sim-1", "sim-0", "accel0"}) c->add_available_deviceids(id);
  c->add_must_include_deviceids("sim-1");
  c->set_allocation_size(2);
  v1beta1::PreferredAllocationResponse resp;
  ASSERT_TRUE(stub_->GetPreferredAllocation(Ctx().get(), req, &resp).ok());
  ASSERT_EQ(resp.container_responses_size(), 1);
  // Packed: sim-1's node has nothing more; a device with a known NUMA node
  // comes before one without.
  EXPECT_THAT(resp.container_responses(0).deviceids(), ::testing::ElementsAre("sim-0", "sim-1"));

  c->set_allocation_size(5);
  grpc::Status st = stub_->GetPreferredAllocation(Ctx().get(), req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("exceeds"));
}

TEST_F(PluginServerTest, PreStartContainerIsANoOp) {
  Serve(1);
  v1beta1::PreStartContainerRequest req;
  req.add_devices_ids("sim-0");
  v1beta1::PreStartContainerResponse resp;
  EXPECT_TRUE(stub_->PreStartContainer(Ctx().get(), req, &resp).ok());
}

TEST_F(PluginServerTest, RemovesAStaleSocketAndNoticesItsOwnIsGone) {
  t_.WriteFile("kubelet/hashfoundry.com_custom-device.sock", "stale");
  Serve(1);
  EXPECT_TRUE(server_->running());
  EXPECT_TRUE(server_->SocketIsOurs());
  v1beta1::DevicePluginOptions options;
  EXPECT_TRUE(stub_->GetDevicePluginOptions(Ctx().get(), v1beta1::Empty(), &options).ok());
  t_.Remove("kubelet/hashfoundry.com_custom-device.sock");
  EXPECT_FALSE(server_->SocketIsOurs());
  server_->Stop();
  ASSERT_TRUE(server_->Start().ok());
  EXPECT_TRUE(server_->SocketIsOurs());
}

}  // namespace
}  // namespace hf::agent
