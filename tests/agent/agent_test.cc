// The whole Agent in-process against a FakeKubelet and temp dirs: it
// registers, reports readiness and metrics, writes the CDI spec, and on
// stop removes its socket but leaves the device files. Also the binary's
// exit status and messages for bad flags. The agent's clock is a FakeClock
// that no test steps: the first scan and the first registration need no
// time to pass, and no interval, backoff or resync comes due mid-test
// however slow the run. Real time bounds only gRPC calls and a failing
// test's waits.
#include "agent/agent.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <nlohmann/json.hpp>

#include "agent/simulated_scanner.h"
#include "agent/version.h"
#include "kube/http/server.h"
#include "deviceplugin/v1beta1/api.grpc.pb.h"
#include "tests/agent/testing/fake_kubelet.h"
#include "tests/agent/testing/http_get.h"
#include "tests/agent/testing/run_agent.h"
#include "tests/agent/testing/temp_dir.h"

namespace hf::agent {
namespace {

using ::testing::HasSubstr;
using testing::FakeKubelet;
using testing::HttpGet;
using testing::TempDir;

class AgentTest : public ::testing::Test {
 protected:
  AgentTest() {
    config_.report = false;
    config_.pool = "gpu";
    config_.node_name = "node-a";
    config_.simulated_count = 2;
    config_.dev_root = t_.Path("dev");
    config_.sys_root = t_.Path("sys");
    config_.kubelet_dir = t_.Path("kubelet");
    config_.cdi = true;
    config_.cdi_dir = t_.Path("cdi");
    port_ = testing::FreePort();
    config_.http_address = "127.0.0.1:" + std::to_string(port_);
    t_.MakeDirs("kubelet");
  }

  void StartAgent() {
    auto scanner = std::make_unique<SimulatedScanner>(config_.dev_root, config_.sys_root, config_.simulated_prefix,
                                                      config_.simulated_count);
    agent_ = std::make_unique<Agent>(config_, std::move(scanner), clock_);
    thread_ = std::thread([this] { result_ = agent_->Run(stop_.get_token()); });
    // Serving the plugin socket comes after the HTTP server, so once a
    // call gets through both are up.
    // Reconnect quickly while the socket does not exist yet.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 10);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 10);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 50);
    auto stub = v1beta1::DevicePlugin::NewStub(
        grpc::CreateCustomChannel("unix:" + config_.SocketPath(), grpc::InsecureChannelCredentials(), args));
    grpc::ClientContext ctx;
    ctx.set_wait_for_ready(true);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1beta1::DevicePluginOptions options;
    ASSERT_TRUE(stub->GetDevicePluginOptions(&ctx, v1beta1::Empty(), &options).ok());
  }

  kube::Status StopAgent() {
    stop_.request_stop();
    thread_.join();
    return result_;
  }

  ~AgentTest() override {
    if (thread_.joinable()) (void)StopAgent();
  }

  TempDir t_;
  kube::FakeClock clock_;
  Config config_;
  int port_ = 0;
  std::stop_source stop_;
  std::unique_ptr<Agent> agent_;
  std::thread thread_;
  kube::Status result_;
};

TEST_F(AgentTest, ServesRegistersReportsAndShutsDownCleanly) {
  FakeKubelet kubelet(t_.Path("kubelet"));
  kubelet.Start();
  StartAgent();
  ASSERT_TRUE(kubelet.WaitForRegistrations(1));
  EXPECT_EQ(kubelet.requests()[0].endpoint(), "hashfoundry.com_custom-device.sock");

  EXPECT_EQ(HttpGet(port_, "/healthz").code, 200);
  // Registration is recorded just after the kubelet answers.
  ASSERT_TRUE(agent_->WaitUntilReady(std::chrono::seconds(10)));
  testing::HttpResult ready = HttpGet(port_, "/readyz?verbose");
  EXPECT_EQ(ready.code, 200) << ready.body;
  EXPECT_THAT(ready.body, HasSubstr("[+]kubelet-registration ok"));
  EXPECT_THAT(ready.body, HasSubstr("[+]discovery ok"));
  testing::HttpResult metrics = HttpGet(port_, "/metrics");
  EXPECT_EQ(metrics.code, 200);
  // Labelled with pool and node, as the operator's PrometheusRule selects them.
  EXPECT_THAT(metrics.body, HasSubstr("hashfoundry_agent_devices{node=\"node-a\",pool=\"gpu\",state=\"healthy\"} 2"));
  EXPECT_THAT(metrics.body, HasSubstr("hashfoundry_agent_devices{node=\"node-a\",pool=\"gpu\",state=\"total\"} 2"));
  EXPECT_THAT(metrics.body,
              HasSubstr("hashfoundry_agent_devices{node=\"node-a\",pool=\"gpu\",state=\"allocated\"} 0"));
  EXPECT_THAT(metrics.body,
              HasSubstr("hashfoundry_agent_registrations_total{node=\"node-a\",pool=\"gpu\",result=\"success\"} 1"));

  std::ifstream cdi(t_.Path("cdi/hashfoundry.com-custom-device.json"));
  ASSERT_TRUE(cdi.good());
  nlohmann::json spec = nlohmann::json::parse(cdi);
  EXPECT_EQ(spec["kind"], "hashfoundry.com/custom-device");
  EXPECT_EQ(spec["devices"].size(), 2u);

  ASSERT_TRUE(StopAgent().ok());
  EXPECT_FALSE(t_.Exists("kubelet/hashfoundry.com_custom-device.sock"));
  EXPECT_TRUE(t_.Exists("dev/hashfoundry-device-0"));
  EXPECT_TRUE(t_.Exists("dev/hashfoundry-device-1"));
}

TEST_F(AgentTest, NotReadyWithoutAKubeletButAlive) {
  StartAgent();
  EXPECT_FALSE(agent_->WaitUntilReady(std::chrono::milliseconds(0)));
  testing::HttpResult ready = HttpGet(port_, "/readyz?verbose");
  EXPECT_EQ(ready.code, 500);
  EXPECT_THAT(ready.body, HasSubstr("[-]kubelet-registration failed"));
  EXPECT_THAT(ready.body, HasSubstr("[+]discovery ok"));
  EXPECT_EQ(HttpGet(port_, "/healthz").code, 200);
  ASSERT_TRUE(StopAgent().ok());
}

TEST_F(AgentTest, TakenHttpAddressIsAnError) {
  kube::HttpServer blocker({config_.http_address});
  ASSERT_TRUE(blocker.Start().ok());
  Agent agent(config_, std::make_unique<SimulatedScanner>(config_.dev_root, config_.sys_root, "x", 1), clock_);
  kube::Status st = agent.Run(stop_.get_token());
  EXPECT_FALSE(st.ok());
  EXPECT_FALSE(t_.Exists("kubelet/hashfoundry.com_custom-device.sock"));
}

using testing::RunAgent;
using testing::RunResult;

TEST(AgentBinaryTest, BadFlagsExitTwoNamingTheFlag) {
  for (const char* args : {"--bogus", "--replicas=0", "--discovery=paths --report=false", "--health-interval=soon",
                           "--pool=x --node-name=n --pci-vendor=zz"}) {
    RunResult r = RunAgent(args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.output;
    std::string flag = std::string(args).substr(0, std::string(args).find_first_of("= "));
    if (flag == "--discovery") flag = "--path-glob";
    if (flag == "--pool") flag = "--pci-vendor";
    EXPECT_THAT(r.output, HasSubstr(flag)) << args;
  }
}

TEST(AgentBinaryTest, VersionAndHelp) {
  RunResult version = RunAgent("--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.output, "devicepool-agent " + std::string(kAgentVersion) + "\n");
  RunResult help = RunAgent("--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.output, HasSubstr("--allocation-policy"));
}

}  // namespace
}  // namespace hf::agent
