// Faults a running pool meets on a real cluster, and what its status shows
// through them (README, Troubleshooting): an API server restart, a hung node,
// a deleted Node, a DevicePoolNode deleted by hand, a device directory
// removed and created again, a pool label set by hand, an agent that cannot
// start. Each case starts from the sample pool Ready on three simulated nodes
// (e2e_fixture.h) and provokes the fault for real: the cluster tool stops and
// starts the API server, SIGSTOP freezes a node's kubelet and agent, kubectl
// deletes and labels.

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
using std::chrono::seconds;

class FaultTest : public E2eTest {
 protected:
  Json Pool() { return Get(api::DevicePools(), "", kPool); }

  std::string ReportName(const SimNode& n) { return api::DevicePoolNodeName(kPool, n.name); }

  // The problemNodes entry of a node, or null.
  Json Problem(const Json& pool, const std::string& node) {
    Json list = At(pool, {"status", "problemNodes"});
    if (!list.is_array()) return Json();
    for (const auto& p : list) {
      if (p.value("node", "") == node) return p;
    }
    return Json();
  }

  std::string ConditionMessage(const Json& pool, const std::string& type) {
    Json conds = At(pool, {"status", "conditions"});
    if (!conds.is_array()) return "";
    for (const auto& c : conds) {
      if (c.value("type", "") == type) return c.value("message", "");
    }
    return "";
  }

  // The agent container's log on a node (sim-kubelet keeps the kubelet's
  // /var/log/pods layout under the node's root).
  std::string AgentLog(const SimNode& n) {
    std::string all;
    std::error_code ec;
    for (const auto& dir : fs::directory_iterator(n.root + "/var/log/pods", ec)) {
      if (dir.path().filename().string().rfind(release_ + "_", 0) != 0) continue;
      for (const auto& f : fs::recursive_directory_iterator(dir.path(), ec)) {
        if (f.is_regular_file()) {
          std::ifstream in(f.path());
          all += std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        }
      }
    }
    return all;
  }

  static size_t Count(const std::string& haystack, const std::string& needle) {
    size_t n = 0;
    for (size_t pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + 1)) ++n;
    return n;
  }

  // SIGSTOP or SIGCONT a node's sim-kubelet and everything it runs.
};

// The finding: a DevicePoolNode deleted by hand was never written again, and
// the pool sat at AgentsNotReady until a device happened to change.
TEST_F(FaultTest, ADevicePoolNodeDeletedByHandIsWrittenAgain) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  const SimNode& n = nodes_[1];
  std::string uid = StringAt(Get(api::DevicePoolNodes(), "", ReportName(n)), {"metadata", "uid"});
  ASSERT_FALSE(uid.empty());
  auto k = Kubectl({"delete", "devicepoolnode", ReportName(n)});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  Json report;
  EXPECT_TRUE(Eventually(
      [&] {
        report = Get(api::DevicePoolNodes(), "", ReportName(n));
        return !report.is_null() && StringAt(report, {"metadata", "uid"}) != uid &&
               At(report, {"status", "registered"}) == true;
      },
      seconds(15)))
      << report.dump(2) << Logs();
  EXPECT_EQ(WaitPoolReady().exit_code, 0) << Pool()["status"].dump(2);
}

// The findings: after a re-list every reconcile re-applied every child (the
// list's items carry no kind), and the agent's report was right only 12 s
// (up to 60 s) after the API server was back.
TEST_F(FaultTest, AnApiServerRestartWritesNoChildAndTheReportCatchesUpAtOnce) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  const SimNode& n = nodes_[0];
  const std::string dir = n.root + "/var/lib/hashfoundry/devices/" + kPool;
  const std::string device = dir + "/hashfoundry-device-3";
  const std::string aside = work_ + "/hashfoundry-device-3.removed";
  const size_t reapplied_before = Count(hf::testing::Run({"cat", op_log_}).output, "differed from the desired state");
  const size_t failures_before = Count(AgentLog(n), "writing DevicePoolNode");

  auto k = Tool({"stop", cluster_.dir(), "kube-apiserver"});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  fs::rename(device, aside);
  // The outage lasts until the agent failed to write four times: with the
  // old exponential backoff that is 15 s, and its next try 16 s later.
  bool failed = Eventually([&] { return Count(AgentLog(n), "writing DevicePoolNode") >= failures_before + 4; },
                           seconds(60), std::chrono::milliseconds(200));
  k = Tool({"start", cluster_.dir(), "kube-apiserver"});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  const auto back = std::chrono::steady_clock::now();
  ASSERT_TRUE(failed) << AgentLog(n);

  EXPECT_TRUE(Eventually(
      [&] { return IntAt(Get(api::DevicePoolNodes(), "", ReportName(n)), {"status", "counts", "healthy"}) == 3; },
      seconds(60), std::chrono::milliseconds(100)));
  const auto caught_up = std::chrono::steady_clock::now() - back;
  EXPECT_LT(caught_up, seconds(5)) << "the report reached the API server "
                                   << std::chrono::duration_cast<std::chrono::milliseconds>(caught_up).count()
                                   << " ms after it was back";
  EXPECT_TRUE(Eventually([&] { return IntAt(Pool(), {"status", "devices", "healthy"}) == 11; }, seconds(30)))
      << Pool()["status"].dump(2);

  // Another change after every informer has listed again: the reconciles it
  // causes must find every child as desired.
  fs::rename(aside, device);
  EXPECT_TRUE(Eventually([&] { return IntAt(Pool(), {"status", "devices", "healthy"}) == 12; }, seconds(30)));
  ASSERT_EQ(WaitPoolReady().exit_code, 0);
  EXPECT_EQ(Count(hf::testing::Run({"cat", op_log_}).output, "differed from the desired state"), reapplied_before)
      << Tail(op_log_, 60);
}

// The finding: a node whose kubelet and agent hang kept its devices healthy
// and its agent registered in the pool's status.
TEST_F(FaultTest, AHungNodesReportIsStaleNotHealthy) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  const SimNode& n = nodes_[2];
  SignalNodeTree(n, SIGSTOP);
  Json pool;
  // The node lifecycle controller marks the Node Unknown after its grace
  // period (50 s) without a Lease renewal.
  bool stale = Eventually(
      [&] {
        pool = Pool();
        Json p = Problem(pool, n.name);
        return !p.is_null() && p.value("reason", "") == "NodeNotReady";
      },
      seconds(150), std::chrono::milliseconds(500));
  SignalNodeTree(n, SIGCONT);
  ASSERT_TRUE(stale) << pool["status"].dump(2);
  EXPECT_EQ(IntAt(pool, {"status", "devices", "healthy"}), 8) << pool["status"].dump(2);
  EXPECT_EQ(IntAt(pool, {"status", "devices", "total"}), 12);
  EXPECT_LE(IntAt(pool, {"status", "nodes", "registered"}), 2);
  EXPECT_EQ(Condition("Ready"), "False");
  EXPECT_NE(ConditionMessage(pool, "Degraded").find(n.name), std::string::npos) << pool["status"].dump(2);
  // Back: the node reports again and nothing was lost.
  EXPECT_EQ(WaitPoolReady().exit_code, 0) << Pool()["status"].dump(2);
  EXPECT_EQ(IntAt(Pool(), {"status", "devices", "healthy"}), 12);
}

// The finding: a deleted Node showed "3/2 agents available" for 79 s, until
// the garbage collector removed its agent pod.
TEST_F(FaultTest, ADeletedNodeNeverCountsMoreAgentsThanNodes) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  SimNode& n = nodes_[2];
  n.proc->Signal(SIGTERM);
  ASSERT_EQ(n.proc->Wait(seconds(60)), 0) << Tail(n.log);
  n.proc.reset();
  ASSERT_TRUE(client_->Delete(kube::resources::Nodes(), "", n.name).ok());
  static const std::regex fraction(R"((\d+)/(\d+) agents)");
  int checks = 0;
  std::string seen;
  // Every look until the deleted node's agent pod is gone, which is the
  // window the DaemonSet over-counts in.
  EXPECT_TRUE(Eventually(
      [&] {
        Json pool = Pool();
        const auto& st = pool["status"];
        int desired = IntAt(pool, {"status", "daemonSet", "desired"});
        for (const char* k : {"updated", "ready", "available"}) {
          EXPECT_LE(IntAt(pool, {"status", "daemonSet", k}), desired) << st.dump(2);
        }
        EXPECT_LE(IntAt(pool, {"status", "nodes", "registered"}), IntAt(pool, {"status", "nodes", "labelled"}));
        std::string msg = ConditionMessage(pool, "Ready");
        std::smatch m;
        if (std::regex_search(msg, m, fraction)) {
          EXPECT_LE(std::stoi(m[1]), std::stoi(m[2])) << msg;
        }
        seen = st.dump(2);
        ++checks;
        return AgentPod(n.name).is_null() && IntAt(pool, {"status", "nodes", "labelled"}) == 2;
      },
      seconds(180), std::chrono::milliseconds(250)))
      << seen;
  EXPECT_GT(checks, 1);
  EXPECT_EQ(WaitPoolReady().exit_code, 0) << Pool()["status"].dump(2);
  EXPECT_EQ(IntAt(Pool(), {"status", "devices", "total"}), 8);
}

// The finding: with the pool's own directory as the hostPath, a directory
// removed and created again stayed invisible to the agent until its pod was
// deleted.
TEST_F(FaultTest, ADeviceDirectoryRemovedAndCreatedAgainIsSeenAgain) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  const SimNode& n = nodes_[0];
  const std::string dir = n.root + "/var/lib/hashfoundry/devices/" + kPool;
  const std::string aside = work_ + "/devices.removed";
  std::string agent_uid = StringAt(AgentPod(n.name), {"metadata", "uid"});
  fs::rename(dir, aside);
  EXPECT_TRUE(Eventually([&] { return NodeResource(n.name, "allocatable") == "0"; }, seconds(60))) << Logs();
  // Created again: the same files under a new directory.
  fs::create_directories(dir);
  for (const auto& f : fs::directory_iterator(aside)) fs::copy_file(f.path(), dir + "/" + f.path().filename().string());
  EXPECT_TRUE(Eventually([&] { return NodeResource(n.name, "allocatable") == "4"; }, seconds(60))) << Logs();
  EXPECT_EQ(WaitPoolReady().exit_code, 0);
  EXPECT_EQ(StringAt(AgentPod(n.name), {"metadata", "uid"}), agent_uid) << "recovered without a new agent pod";
}

// The finding: the pool label with another value than "enabled", on a node
// the pool does not select, stayed for ever.
TEST_F(FaultTest, ThePoolOwnsItsLabelKeyWhateverTheValue) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  const std::string key = api::NodeSelectionLabel(kPool);
  const std::string out = nodes_[2].name;
  auto k = Kubectl({"label", "node", out, "hashfoundry.com/custom-device-"});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  auto label = [&](const std::string& node) {
    Json labels = At(Get(kube::resources::Nodes(), "", node), {"metadata", "labels"});
    return labels.is_object() && labels.contains(key) ? labels[key].get<std::string>() : std::string("<none>");
  };
  EXPECT_TRUE(Eventually([&] { return label(out) == "<none>"; }, seconds(30)));
  k = Kubectl({"label", "node", out, key + "=by-hand"});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  EXPECT_TRUE(Eventually([&] { return label(out) == "<none>"; }, seconds(30))) << Tail(op_log_);
  // On a selected node a wrong value is set back.
  k = Kubectl({"label", "node", nodes_[0].name, key + "=by-hand", "--overwrite"});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  EXPECT_TRUE(Eventually([&] { return label(nodes_[0].name) == "enabled"; }, seconds(30))) << Tail(op_log_);
}

// What admission cannot catch must still say why: an agent that exits
// writes its fatal error to its termination message, and the pool's status
// shows it. The "image" here is the real agent with a flag it refuses.
TEST_F(FaultTest, ACrashLoopingAgentShowsItsTerminationMessage) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  const SimNode& n = nodes_[0];
  ASSERT_NO_FATAL_FAILURE(SetAgentImageBroken(true, n.name));
  Json pool;
  EXPECT_TRUE(Eventually(
      [&] {
        pool = Pool();
        Json p = Problem(pool, n.name);
        return !p.is_null() && p.value("reason", "") == "AgentCrashLooping";
      },
      seconds(120), std::chrono::milliseconds(250)))
      << pool["status"].dump(2) << Logs();
  const std::string degraded = ConditionMessage(pool, "Degraded");
  EXPECT_NE(degraded.find("health-interval"), std::string::npos) << pool["status"].dump(2);
  EXPECT_NE(degraded.find("exit code 2"), std::string::npos) << degraded;
  EXPECT_NE(ConditionMessage(pool, "Ready").find(n.name), std::string::npos) << pool["status"].dump(2);

  // The right agent again: the pool recovers by itself.
  ASSERT_NO_FATAL_FAILURE(SetAgentImageBroken(false, n.name));
  EXPECT_EQ(WaitPoolReady().exit_code, 0) << Pool()["status"].dump(2);
}

}  // namespace
}  // namespace hf::e2e
