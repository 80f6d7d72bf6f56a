// The stand-ins for broken agent builds that rollout tests deploy under
// image names of their own (tests/e2e/images, installed with
// E2eTest::InstallAgentImage): each, named in the pool's spec.agent.image,
// fails on a real node the way the build it stands in for would, and the real
// agent under a new image name brings the pool back. One node; the pool's
// rollout is RollingUpdate, so the DaemonSet controller puts each image on the
// node whatever the agent does (the managed rollout's gates are
// rollout_test's).
#include <chrono>

#include "api/device_pool_node.h"
#include "tests/e2e/e2e_fixture.h"

namespace hf::e2e {
namespace {

using hf::testing::At;
using hf::testing::Eventually;
using hf::testing::IntAt;
using hf::testing::StringAt;
using kube::Json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kExits[] = "hashfoundry/devicepool-agent:bad-exit";
constexpr char kNeverRegisters[] = "hashfoundry/devicepool-agent:bad-never-registers";
constexpr char kUnhealthy[] = "hashfoundry/devicepool-agent:bad-unhealthy";
constexpr char kGood[] = "hashfoundry/devicepool-agent:v2";

class AgentImagesTest : public E2eTest {
 protected:
  AgentImagesTest() { node_count_ = 1; }

  void TearDown() override {
    E2eTest::TearDown();
    // The never-registers build's kubelet directory (tests/e2e/images).
    for (const auto& n : nodes_) fs::remove_all("/tmp/hf-agent-never-registers-" + n.name);
  }

  void SetAgentImage(const std::string& image) {
    auto k = Kubectl({"patch", "devicepool", kPool, "--type=merge", "-p",
                      R"({"spec":{"rollout":{"strategy":"RollingUpdate"},"agent":{"image":")" + image + R"("}}})"});
    ASSERT_EQ(k.exit_code, 0) << k.output;
  }

  // The agent pod running `image` once it is the node's only agent pod, so
  // the previous build's agent has stopped; null until then.
  Json OnlyPodOf(const std::string& image) {
    std::vector<Json> pods;
    for (const auto& p : List(kube::resources::Pods(), release_, std::string(api::kPoolLabel) + "=" + kPool)) {
      if (StringAt(p, {"spec", "nodeName"}) == nodes_[0].name) pods.push_back(p);
    }
    if (pods.size() != 1 || StringAt(pods[0], {"spec", "containers", "0", "image"}) != image) return Json();
    return pods[0];
  }

  // Whether the kubelet has reported a failed readiness probe of the pod.
  bool ReadinessProbeFailed(const Json& pod) {
    const std::string name = StringAt(pod, {"metadata", "name"});
    for (const auto& e : List(kube::resources::Events(), release_, "")) {
      if (StringAt(e, {"regarding", "name"}) == name && e.value("reason", "") == "Unhealthy" &&
          e.value("note", "").find("Readiness probe failed") != std::string::npos) {
        return true;
      }
    }
    return false;
  }

  std::string ReportName() { return api::DevicePoolNodeName(kPool, nodes_[0].name); }
  Json Report() { return Get(api::DevicePoolNodes(), "", ReportName()); }

  static Json Container(const Json& pod) { return At(pod, {"status", "containerStatuses", "0"}); }

  static bool PodReady(const Json& pod) {
    Json conds = At(pod, {"status", "conditions"});
    if (!conds.is_array()) return false;
    for (const auto& c : conds) {
      if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
    }
    return false;
  }

  // Every device listed is Unhealthy, and there are `count`.
  static bool AllUnhealthy(const Json& report, int count) {
    Json devices = At(report, {"status", "devices"});
    if (!devices.is_array() || static_cast<int>(devices.size()) != count) return false;
    for (const auto& d : devices) {
      if (d.value("health", "") != "Unhealthy") return false;
    }
    return true;
  }
};

TEST_F(AgentImagesTest, EachBrokenBuildFailsAsItStandsInFor) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  const std::string node = nodes_[0].name;
  InstallAgentImage(kExits, "agent-exits.sh");
  InstallAgentImage(kNeverRegisters, "agent-never-registers.sh");
  InstallAgentImage(kUnhealthy, "agent-unhealthy.sh");
  InstallAgentImage(kGood);

  // Crashes at start: restarted, its reason the termination message.
  SetAgentImage(kExits);
  Json pod;
  EXPECT_TRUE(Eventually(
      [&] {
        pod = OnlyPodOf(kExits);
        return IntAt(Container(pod), {"restartCount"}) >= 1 &&
               IntAt(Container(pod), {"lastState", "terminated", "exitCode"}) == 1;
      },
      seconds(60), milliseconds(250)))
      << pod.dump(2) << Logs();
  EXPECT_NE(StringAt(Container(pod), {"lastState", "terminated", "message"}).find("crashed at start"),
            std::string::npos)
      << pod.dump(2);
  EXPECT_FALSE(PodReady(pod));
  // No agent runs on the node now: the report the good agent wrote goes, so
  // the next one is the next build's.
  ASSERT_TRUE(client_->Delete(api::DevicePoolNodes(), "", ReportName()).ok());
  ASSERT_TRUE(Eventually([&] { return Report().is_null(); }, seconds(30)));

  // Serves, but never registers: it finds its devices and reports them, not
  // registered; its pod runs and is not Ready; the kubelet has nothing to
  // allocate.
  SetAgentImage(kNeverRegisters);
  Json report;
  EXPECT_TRUE(Eventually(
      [&] {
        pod = OnlyPodOf(kNeverRegisters);
        report = Report();
        return !At(Container(pod), {"state", "running"}).is_null() &&
               IntAt(report, {"status", "counts", "healthy"}) == kDevicesPerNode;
      },
      seconds(60), milliseconds(250)))
      << pod.dump(2) << report.dump(2) << Logs();
  EXPECT_EQ(At(report, {"status", "registered"}), false) << report.dump(2);
  EXPECT_TRUE(Eventually([&] { return NodeResource(node, "allocatable") == "0"; }, seconds(30)));
  EXPECT_TRUE(Eventually([&] { return ReadinessProbeFailed(pod); }, seconds(30))) << Logs();
  pod = OnlyPodOf(kNeverRegisters);
  EXPECT_FALSE(PodReady(pod)) << pod.dump(2);
  EXPECT_EQ(At(Container(pod), {"ready"}), false);
  EXPECT_EQ(IntAt(Container(pod), {"restartCount"}), 0) << "it serves, it does not crash";

  // Looks for its devices in the wrong place: registered, every device
  // Unhealthy, its pod Ready; the kubelet counts the devices, none allocatable.
  SetAgentImage(kUnhealthy);
  EXPECT_TRUE(Eventually(
      [&] {
        pod = OnlyPodOf(kUnhealthy);
        report = Report();
        return !pod.is_null() && At(report, {"status", "registered"}) == true &&
               AllUnhealthy(report, kDevicesPerNode);
      },
      seconds(60), milliseconds(250)))
      << pod.dump(2) << report.dump(2) << Logs();
  EXPECT_EQ(IntAt(report, {"status", "counts", "healthy"}), 0);
  EXPECT_EQ(IntAt(report, {"status", "counts", "total"}), kDevicesPerNode);
  EXPECT_TRUE(Eventually([&] { return PodReady(pod = OnlyPodOf(kUnhealthy)); }, seconds(30))) << pod.dump(2);
  EXPECT_TRUE(Eventually(
      [&] {
        return NodeResource(node, "capacity") == std::to_string(kDevicesPerNode) &&
               NodeResource(node, "allocatable") == "0";
      },
      seconds(30)));

  // A good new version is the real agent: the pool is Ready again.
  SetAgentImage(kGood);
  EXPECT_TRUE(Eventually([&] { return !OnlyPodOf(kGood).is_null(); }, seconds(60))) << Logs();
  EXPECT_EQ(WaitPoolReady().exit_code, 0) << Get(api::DevicePools(), "", kPool)["status"].dump(2);
  EXPECT_TRUE(Eventually([&] { return NodeResource(node, "allocatable") == std::to_string(kDevicesPerNode); },
                         seconds(30)));
}

}  // namespace
}  // namespace hf::e2e
