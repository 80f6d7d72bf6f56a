// The agent binary against the real API server (tests/cluster) and a fake
// kubelet: its DevicePoolNode appears with the right devices and counts
// (allocated from a fake PodResources service), follows health changes,
// is not written again when a rescan finds nothing new, is owned by the
// DevicePool (garbage-collected with it), and the agent keeps serving the
// kubelet when the API server is unreachable.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "agent/version.h"
#include "api/names.h"
#include "podresources/v1/api.grpc.pb.h"
#include "tests/agent/testing/fake_kubelet.h"
#include "tests/agent/testing/http_get.h"
#include "tests/agent/testing/temp_dir.h"
#include "tests/testing/cluster.h"

extern char** environ;

namespace hf::agent {
namespace {

using ::testing::HasSubstr;
using hf::testing::Eventually;
using hf::testing::LocalCluster;
using hf::testing::UniqueName;
using testing::FakeKubelet;
using testing::HttpGet;
using testing::TempDir;

constexpr char kResource[] = "hashfoundry.com/custom-device";

// The agent as a child process, its output in a log file.
class AgentProcess {
 public:
  AgentProcess(const std::vector<std::string>& args, std::string log) : log_(std::move(log)) {
    std::vector<std::string> argv = {HF_AGENT_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    EXPECT_EQ(posix_spawn(&pid_, cargv[0], &actions, nullptr, cargv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
  }
  ~AgentProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // SIGTERM, then the exit status (-1 if it did not exit in time).
  int Terminate() {
    kill(pid_, SIGTERM);
    int status = 0;
    bool exited = Eventually([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, std::chrono::seconds(15));
    if (!exited) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
};

// The kubelet's PodResources service with two of our ids held.
class FakeLister final : public v1::PodResourcesLister::Service {
 public:
  grpc::Status List(grpc::ServerContext*, const v1::ListPodResourcesRequest*,
                    v1::ListPodResourcesResponse* response) override {
    auto* devices = response->add_pod_resources()->add_containers()->add_devices();
    devices->set_resource_name(kResource);
    devices->add_device_ids("hashfoundry-device-0::0");
    devices->add_device_ids("hashfoundry-device-2::1");
    return grpc::Status::OK;
  }
};

double Metric(int port, const std::string& series) {
  std::string body = HttpGet(port, "/metrics").body;
  size_t at = body.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(body.substr(at + series.size() + 2));
}

class ReportIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    LocalCluster& cluster = LocalCluster::Shared();
    auto applied = cluster.Kubectl({"apply", "--server-side", "-f", std::string(HF_SOURCE_DIR) + "/crds/"});
    ASSERT_EQ(applied.exit_code, 0) << applied.output;
    auto established = cluster.Kubectl({"wait", "--for=condition=Established", "--timeout=60s",
                                        "crd/devicepools.hashfoundry.com", "crd/devicepoolnodes.hashfoundry.com"});
    ASSERT_EQ(established.exit_code, 0) << established.output;
  }

  void SetUp() override {
    client_ = cluster_.AdminClient();
    pool_ = UniqueName("agentit");
    kube::Json pool = {{"apiVersion", "hashfoundry.com/v1alpha1"},
                       {"kind", "DevicePool"},
                       {"metadata", {{"name", pool_}}},
                       {"spec", {{"resourceName", kResource}, {"discovery", {{"simulated", {{"count", 3}}}}}}}};
    auto created = client_->Create(api::DevicePools(), "", pool);
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    pool_uid_ = (*created)["metadata"]["uid"];
    t_.MakeDirs("kubelet");
    port_ = testing::FreePort();
  }

  void TearDown() override { (void)client_->Delete(api::DevicePools(), "", pool_); }

  std::vector<std::string> AgentArgs(const std::string& kubeconfig) const {
    return {"--pool=" + pool_,
            "--pool-uid=" + pool_uid_,
            "--node-name=node-a",
            "--kubeconfig=" + kubeconfig,
            "--dev-root=" + t_.Path("dev"),
            "--sys-root=" + t_.Path("sys"),
            "--kubelet-dir=" + t_.Path("kubelet"),
            "--pod-resources-socket=" + t_.Path("pr.sock"),
            "--simulated-count=3",
            "--replicas=2",
            "--health-interval=1s",
            "--revision=5d41402abc4b2a76",
            "--http-address=127.0.0.1:" + std::to_string(port_)};
  }

  std::string NodeName() const { return pool_ + ".node-a"; }

  // The agent's sample `name{node,pool,result}` (prometheus-cpp sorts labels).
  double AgentMetric(const std::string& name, const std::string& result) const {
    return Metric(port_, name + "{node=\"node-a\",pool=\"" + pool_ + "\",result=\"" + result + "\"}");
  }

  kube::StatusOr<kube::Json> Node() { return client_->Get(api::DevicePoolNodes(), "", NodeName()); }

  // Whether the report's status matches `pred` now.
  bool NodeStatus(const std::function<bool(const kube::Json&)>& pred) {
    auto n = Node();
    return n.ok() && n->contains("status") && pred((*n)["status"]);
  }

  LocalCluster& cluster_ = LocalCluster::Shared();
  std::unique_ptr<kube::Client> client_;
  std::string pool_;
  std::string pool_uid_;
  TempDir t_;
  int port_ = 0;
};

TEST_F(ReportIntegrationTest, ReportFollowsTheDevicesAndIsWrittenOnlyOnChange) {
  FakeKubelet kubelet(t_.Path("kubelet"));
  kubelet.Start();
  FakeLister lister;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + t_.Path("pr.sock"), grpc::InsecureServerCredentials());
  builder.RegisterService(&lister);
  auto pod_resources = builder.BuildAndStart();
  ASSERT_NE(pod_resources, nullptr);

  AgentProcess agent(AgentArgs(cluster_.kubeconfig()), t_.Path("agent.log"));
  ASSERT_TRUE(kubelet.WaitForRegistrations(1, std::chrono::seconds(30))) << agent.Log();

  ASSERT_TRUE(Eventually([&] {
    return NodeStatus([](const kube::Json& s) {
      return s.value("registered", false) && s["counts"] == kube::Json{{"total", 6}, {"healthy", 6}, {"allocated", 2}};
    });
  })) << agent.Log() << "\n" << Node()->dump(2);
  kube::Json node = *Node();
  EXPECT_EQ(node["spec"], (kube::Json{{"pool", pool_}, {"node", "node-a"}}));
  EXPECT_EQ(node["metadata"]["labels"]["hashfoundry.com/pool"], pool_);
  EXPECT_EQ(node["metadata"]["labels"]["hashfoundry.com/node"], "node-a");
  ASSERT_EQ(node["metadata"]["ownerReferences"].size(), 1u);
  EXPECT_EQ(node["metadata"]["ownerReferences"][0]["uid"], pool_uid_);
  const kube::Json& devices = node["status"]["devices"];
  ASSERT_EQ(devices.size(), 3u);
  EXPECT_EQ(devices[1]["id"], "hashfoundry-device-1");
  EXPECT_EQ(devices[1]["health"], "Healthy");
  EXPECT_EQ(devices[1]["path"], t_.Path("dev/hashfoundry-device-1"));
  EXPECT_EQ(node["status"]["agentVersion"], kAgentVersion);
  EXPECT_EQ(node["status"]["agentRevision"], "5d41402abc4b2a76");
  bool managed_by_agent = false;
  for (const auto& m : node["metadata"]["managedFields"]) managed_by_agent |= m["manager"] == "devicepool-agent";
  EXPECT_TRUE(managed_by_agent);

  // Health changes reach the report.
  t_.Remove("dev/hashfoundry-device-1");
  ASSERT_TRUE(Eventually([&] {
    return NodeStatus([](const kube::Json& s) {
      return s["devices"][1]["health"] == "Unhealthy" && s["counts"]["healthy"] == 4 && s["counts"]["total"] == 6;
    });
  })) << agent.Log();
  t_.WriteFile("dev/hashfoundry-device-1", "back\n");
  ASSERT_TRUE(Eventually([&] {
    return NodeStatus(
        [](const kube::Json& s) { return s["devices"][1]["health"] == "Healthy" && s["counts"]["healthy"] == 6; });
  })) << agent.Log();

  // Rescans that find nothing new (the 1 s interval, and an unrelated file
  // waking inotify) write nothing. The baseline is taken once a scan has
  // completed after the write seen above: the agent counts a write only
  // after the server answered, so reading the counter as soon as the report
  // shows could miss that last write.
  const double settled = AgentMetric("hashfoundry_agent_scans_total", "success") + 1;
  ASSERT_TRUE(Eventually([&] { return AgentMetric("hashfoundry_agent_scans_total", "success") >= settled; }));
  std::string rv = (*Node())["metadata"]["resourceVersion"];
  double writes = AgentMetric("hashfoundry_agent_report_writes_total", "success");
  double scans = AgentMetric("hashfoundry_agent_scans_total", "success");
  ASSERT_GT(writes, 0);
  t_.WriteFile("dev/unrelated", "");
  ASSERT_TRUE(Eventually([&] { return AgentMetric("hashfoundry_agent_scans_total", "success") >= scans + 3; }));
  EXPECT_EQ((*Node())["metadata"]["resourceVersion"], rv);
  EXPECT_EQ(AgentMetric("hashfoundry_agent_report_writes_total", "success"), writes);

  EXPECT_EQ(agent.Terminate(), 0);
  EXPECT_FALSE(t_.Exists("kubelet/hashfoundry.com_custom-device.sock"));
  EXPECT_TRUE(t_.Exists("dev/hashfoundry-device-0"));
  pod_resources->Shutdown();
}

TEST_F(ReportIntegrationTest, DeletingThePoolCollectsTheReport) {
  AgentProcess agent(AgentArgs(cluster_.kubeconfig()), t_.Path("agent.log"));
  ASSERT_TRUE(Eventually([&] { return Node().ok(); })) << agent.Log();
  EXPECT_EQ(agent.Terminate(), 0);
  kube::DeleteOptions background;
  background.propagation = kube::PropagationPolicy::kBackground;
  ASSERT_TRUE(client_->Delete(api::DevicePools(), "", pool_, background).ok());
  EXPECT_TRUE(Eventually([&] { return kube::IsNotFound(Node().status()); }, std::chrono::seconds(60)))
      << "the garbage collector removes the report with its pool";
}

TEST_F(ReportIntegrationTest, KeepsServingTheKubeletWhenTheApiServerIsUnreachable) {
  std::ifstream in(cluster_.kubeconfig());
  std::stringstream text;
  text << in.rdbuf();
  std::string dead = std::regex_replace(text.str(), std::regex(R"(server: https://127\.0\.0\.1:\d+)"),
                                        "server: https://127.0.0.1:" + std::to_string(testing::FreePort()));
  ASSERT_NE(dead, text.str());
  t_.WriteFile("dead.kubeconfig", dead);

  FakeKubelet kubelet(t_.Path("kubelet"));
  kubelet.Start();
  AgentProcess agent(AgentArgs(t_.Path("dead.kubeconfig")), t_.Path("agent.log"));
  ASSERT_TRUE(kubelet.WaitForRegistrations(1, std::chrono::seconds(30))) << agent.Log();
  EXPECT_TRUE(Eventually([&] { return HttpGet(port_, "/readyz").code == 200; })) << agent.Log();
  EXPECT_TRUE(Eventually(
      [&] { return AgentMetric("hashfoundry_agent_report_writes_total", "error") >= 1; }))
      << agent.Log();
  EXPECT_THAT(agent.Log(), HasSubstr("retrying in"));
  EXPECT_EQ(agent.Terminate(), 0);
}

}  // namespace
}  // namespace hf::agent
