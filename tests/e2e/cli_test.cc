// kubectl-devicepool against the real control plane and simulated nodes:
// through kubectl's plugin mechanism, `status` in text and JSON beside what
// the Nodes say, `rollout pause|resume|status`, `test` with the sample pods
// run for real, and `diagnose` on faults provoked for real (both judgements
// are table-tested in tests/cli).
#include <csignal>
#include <filesystem>

#include "tests/e2e/e2e_fixture.h"

namespace hf::e2e {
namespace {

class CliTest : public E2eTest {
 protected:
  hf::testing::CommandResult Cli(const std::vector<std::string>& args) {
    std::vector<std::string> argv{HF_CLI_BIN, "--kubeconfig=" + cluster_.kubeconfig()};
    argv.insert(argv.end(), args.begin(), args.end());
    return hf::testing::Run(argv);
  }
};

TEST_F(CliTest, KubectlFindsThePluginByItsName) {
  const std::string dir = std::filesystem::path(HF_CLI_BIN).parent_path();
  auto k = hf::testing::Run({bin_ + "/kubectl", "devicepool", "version"},
                            {{"PATH", dir + ":" + std::string(std::getenv("PATH"))}});
  EXPECT_EQ(k.exit_code, 0) << k.output;
  EXPECT_NE(k.output.find("kubectl-devicepool "), std::string::npos) << k.output;
}

TEST_F(CliTest, StatusShowsEachNodesReportBesideTheNode) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  auto k = Cli({"status", kPool});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  EXPECT_EQ(k.output.find('\033'), std::string::npos) << "colour only on a terminal";
  EXPECT_NE(k.output.find(std::string("Pool ") + kPool), std::string::npos) << k.output;
  EXPECT_TRUE(std::regex_search(k.output, std::regex(R"(\n  Ready +True )"))) << k.output;
  for (const auto& n : nodes_) {
    // NODE READY AGENT REVISION REGISTERED CAPACITY ALLOCATABLE REPORTED HEALTHY ALLOCATED
    EXPECT_TRUE(std::regex_search(k.output, std::regex("\n  " + n.name + R"( +yes +\S+ +\S+ +yes +4 +4 +4 +4 +0\n)")))
        << n.name << "\n" << k.output;
    EXPECT_NE(k.output.find("  " + n.name + ":\n"), std::string::npos) << k.output;
  }
  EXPECT_NE(k.output.find("hashfoundry-device-3"), std::string::npos) << k.output;

  k = Cli({"status", kPool, "-o", "json"});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  Json doc = Json::parse(k.output, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << k.output;
  EXPECT_EQ(StringAt(doc, {"pool", "metadata", "name"}), kPool);
  ASSERT_EQ(doc["reports"].size(), nodes_.size()) << k.output;
  for (const auto& n : nodes_) {
    EXPECT_EQ(doc["nodes"][n.name]["allocatable"], 4) << k.output;
    EXPECT_EQ(doc["nodes"][n.name]["ready"], true) << k.output;
  }
  k = Cli({"status", "-o", "yaml"});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  EXPECT_NE(k.output.find("pools:"), std::string::npos) << k.output;

  k = Cli({"status", "no-such-pool"});
  EXPECT_EQ(k.exit_code, 1) << k.output;
  EXPECT_NE(k.output.find("not found"), std::string::npos) << k.output;
  k = Cli({"status", "-o", "xml"});
  EXPECT_EQ(k.exit_code, 2) << k.output;
}

TEST_F(CliTest, RolloutPauseResumeAndStatus) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  auto k = Cli({"rollout", "pause", kPool});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  EXPECT_EQ(At(Get(api::DevicePools(), "", kPool), {"spec", "rollout", "paused"}), true);
  k = Cli({"status", kPool});
  EXPECT_NE(k.output.find("Rollout (Managed, paused)"), std::string::npos) << k.output;
  k = Cli({"rollout", "resume", kPool});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  EXPECT_EQ(At(Get(api::DevicePools(), "", kPool), {"spec", "rollout", "paused"}), false);

  // A settled pool: status returns at once, with 0.
  k = Cli({"rollout", "status", kPool, "--timeout=60s"});
  EXPECT_EQ(k.exit_code, 0) << k.output;
  EXPECT_NE(k.output.find("rollout complete"), std::string::npos) << k.output;

  k = Cli({"rollout", "status", "no-such-pool"});
  EXPECT_EQ(k.exit_code, 1) << k.output;
  k = Cli({"rollout", "status", kPool, "--timeout=soon"});
  EXPECT_EQ(k.exit_code, 2) << k.output;
}

// history lists the agent templates with the nodes running each; undo sets
// spec.agent.image back, and the managed rollout brings the earlier agent
// back; an earlier template that differs in more than the image is refused.
TEST_F(CliTest, RolloutHistoryAndUndoBringTheEarlierAgentBack) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  const std::string v2 = "hashfoundry/devicepool-agent:v2";
  InstallAgentImage(v2);
  auto patch = [&](const Json& spec) {
    auto r = client_->Patch(api::DevicePools(), "", kPool, kube::PatchType::kMerge, Json{{"spec", spec}}.dump());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  };
  auto rollout_done = [&] {
    auto k = Cli({"rollout", "status", kPool, "--timeout=180s"});
    EXPECT_EQ(k.exit_code, 0) << k.output << Logs();
    return StringAt(Get(api::DevicePools(), "", kPool), {"status", "rollout", "currentRevision"});
  };
  const std::string first = StringAt(Get(api::DevicePools(), "", kPool), {"status", "rollout", "currentRevision"});
  ASSERT_FALSE(first.empty());
  ASSERT_NO_FATAL_FAILURE(patch({{"rollout", {{"canary", {{"bakeTime", "1s"}}}, {"maxUnavailable", 3}}}}));
  const std::string tuned = rollout_done();
  ASSERT_NO_FATAL_FAILURE(patch({{"agent", {{"image", v2}}}}));
  const std::string second = rollout_done();
  ASSERT_NE(second, tuned);

  auto k = Cli({"rollout", "history", kPool});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  EXPECT_TRUE(std::regex_search(k.output, std::regex("\n\\d+ +" + second + " +" + v2 + " +3 +current, spec +\\S+\n")))
      << k.output;
  EXPECT_TRUE(std::regex_search(k.output, std::regex("\n\\d+ +" + tuned + " +\\S+ +0 +- +\\S+\n"))) << k.output;

  // Back to the agent before v2: the same template, so the same revision.
  k = Cli({"rollout", "undo", kPool});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  EXPECT_NE(k.output.find("spec.agent.image set to"), std::string::npos) << k.output;
  EXPECT_NE(StringAt(Get(api::DevicePools(), "", kPool), {"spec", "agent", "image"}), v2);
  EXPECT_EQ(rollout_done(), tuned);
  for (const auto& n : nodes_) {
    EXPECT_TRUE(Eventually(
        [&] {
          Json pod = AgentPod(n.name);
          return StringAt(pod, {"metadata", "annotations", "hashfoundry.com/template-hash"}) == tuned &&
                 StringAt(pod, {"status", "phase"}) == "Running";
        },
        seconds(60)))
        << n.name;
  }

  // Now the spec changes a flag of the agent: going back would need more
  // than the image, so undo refuses.
  ASSERT_NO_FATAL_FAILURE(patch({{"health", {{"interval", "20s"}}}}));
  const std::string third = rollout_done();
  ASSERT_NE(third, tuned);
  k = Cli({"rollout", "undo", kPool});
  EXPECT_EQ(k.exit_code, 1) << k.output;
  EXPECT_NE(k.output.find("differs from the spec's agent in more than the image"), std::string::npos) << k.output;
  k = Cli({"rollout", "undo", kPool, "--to-revision=0"});
  EXPECT_EQ(k.exit_code, 2) << k.output;

  // A build that exits: rollout status follows it to the end of the
  // rollback and exits 1, naming the canary node and its gate; by then
  // every node runs the last good agent again.
  const std::string broken = "hashfoundry/devicepool-agent:exits";
  InstallAgentImage(broken, "agent-exits.sh");
  ASSERT_NO_FATAL_FAILURE(patch({{"agent", {{"image", broken}}}, {"rollout", {{"progressDeadline", "30s"}}}}));
  k = Cli({"rollout", "status", kPool, "--timeout=180s"});
  EXPECT_EQ(k.exit_code, 1) << k.output << Logs();
  EXPECT_NE(k.output.find("gate AgentRunning"), std::string::npos) << k.output;
  Json pool = Get(api::DevicePools(), "", kPool);
  EXPECT_EQ(StringAt(pool, {"status", "rollout", "phase"}), "RolledBack");
  EXPECT_FALSE(StringAt(pool, {"status", "rollout", "completionTime"}).empty()) << pool["status"].dump(2);
  for (const auto& n : nodes_) {
    EXPECT_EQ(StringAt(AgentPod(n.name), {"metadata", "annotations", "hashfoundry.com/template-hash"}), third)
        << n.name << ": rollout status returned before the rollback ended";
  }
}

// The sample test pods run for real: sim-kubelet runs busybox:1.36's sh as
// the host's /bin/sh (an image with its own executables, see
// tests/cluster/README.md) in a private /dev holding the device files the
// agent handed over, so a file check cannot pass by accident.
TEST_F(CliTest, TestRunsTheSamplePodsChecksThemAndCleansUp) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  const std::string busybox = work_ + "/images/by-image/busybox_1.36";
  fs::create_directories(busybox);
  fs::create_symlink("/bin/sh", busybox + "/sh");
  const std::regex deleted(R"(namespace/(devicepool-test-[a-z0-9]+) deleted)");
  auto gone = [&](const std::string& output) {
    std::smatch m;
    if (!std::regex_search(output, m, deleted)) return false;
    const std::string ns = m[1];
    return Eventually([&] { return Get(kube::resources::Namespaces(), "", ns).is_null(); }, seconds(60));
  };

  auto k = Cli({"test", kPool, "--timeout=90s"});
  EXPECT_EQ(k.exit_code, 0) << k.output << Logs();
  EXPECT_TRUE(std::regex_search(k.output, std::regex(R"(PASS device-test-single on \S+: asked for 1, got hashfoundry-device-\d\n)")))
      << k.output;
  EXPECT_TRUE(std::regex_search(
      k.output, std::regex(R"(PASS device-test-multi on \S+: asked for 2, got hashfoundry-device-\d,hashfoundry-device-\d\n)")))
      << k.output;
  EXPECT_TRUE(std::regex_search(k.output,
                                std::regex(R"(device hashfoundry-device-\d: /dev/hashfoundry-device-\d present)")))
      << k.output;
  EXPECT_NE(k.output.find("test passed"), std::string::npos) << k.output;
  EXPECT_TRUE(gone(k.output)) << k.output;

  // Pods that never run (no such image here) fail the test at --timeout,
  // and the namespace still goes.
  k = Cli({"test", kPool, "--image=example.com/not-here:1", "--timeout=5s"});
  EXPECT_EQ(k.exit_code, 1) << k.output;
  EXPECT_NE(k.output.find("FAIL device-test-single"), std::string::npos) << k.output;
  EXPECT_NE(k.output.find("2 of 2 test pods failed"), std::string::npos) << k.output;
  EXPECT_TRUE(gone(k.output)) << k.output;

  // Ctrl-C while waiting: cleaned up too.
  const std::string log = work_ + "/cli-test.log";
  auto cli = ChildProcess::Start({HF_CLI_BIN, "--kubeconfig=" + cluster_.kubeconfig(), "test", kPool,
                                  "--image=example.com/not-here:1", "--timeout=5m"},
                                 log);
  ASSERT_NE(cli, nullptr);
  ASSERT_TRUE(Eventually([&] { return cli->Log().find("pod/device-test-multi created") != std::string::npos; },
                         seconds(30)))
      << cli->Log();
  cli->Signal(SIGINT);
  EXPECT_EQ(cli->Wait(seconds(30)), 1) << cli->Log();
  EXPECT_NE(cli->Log().find("interrupted"), std::string::npos) << cli->Log();
  EXPECT_TRUE(gone(cli->Log())) << cli->Log();
}

// diagnose -o json; each case provokes a fault for real and waits (bounded)
// until diagnose reports it, then checks severity and exit code.
class DiagnoseTest : public CliTest {
 protected:
  DiagnoseTest() { leader_elect_ = true; }

  void TearDown() override {
    // Neither the stand-in monitoring CRDs nor a second pool outlive the test.
    Kubectl({"delete", "-f", Source("tests/operator/integration/testdata/monitoring-crds.yaml"), "--ignore-not-found"});
    Kubectl({"delete", "devicepool", kTwin, "--ignore-not-found", "--timeout=60s"});
    (void)client_->Delete(kube::resources::ClusterRoleBindings(), "", std::string(kBinding) + "-twin");
    CliTest::TearDown();
  }

  static constexpr char kTwin[] = "custom-device-twin";

  struct Report {
    int exit_code = -1;
    Json doc;
    std::string output;
  };

  Report Diagnose(const std::string& pool = kPool) {
    auto k = Cli({"diagnose", pool, "-o", "json"});
    Report r{k.exit_code, Json::parse(k.output, nullptr, false), k.output};
    if (r.doc.is_discarded()) r.doc = Json();
    return r;
  }

  static Json FindingOf(const Json& doc, const std::string& check, const std::string& severity,
                        const std::string& text = "") {
    if (!doc.contains("findings")) return Json();
    for (const auto& f : doc["findings"]) {
      if ((check.empty() || f.value("check", "") == check) && (severity.empty() || f.value("severity", "") == severity) &&
          (text.empty() || f.dump().find(text) != std::string::npos)) {
        return f;
      }
    }
    return Json();
  }

  // Until diagnose reports the finding; the last report.
  Report WaitFinding(const std::string& check, const std::string& severity, const std::string& text = "",
                     const std::string& pool = kPool) {
    Report r;
    Eventually([&] { return !FindingOf((r = Diagnose(pool)).doc, check, severity, text).is_null(); }, seconds(120),
               std::chrono::milliseconds(500));
    return r;
  }

  void ApplyMonitoringCrds(bool present) {
    const std::string crds = Source("tests/operator/integration/testdata/monitoring-crds.yaml");
    auto k = present ? Kubectl({"apply", "-f", crds})
                     : Kubectl({"delete", "-f", crds, "--ignore-not-found", "--wait=true", "--timeout=60s"});
    ASSERT_EQ(k.exit_code, 0) << k.output;
  }
};

TEST_F(DiagnoseTest, AHealthyPoolIsCleanAndMissingMonitoringCrdsAreAWarning) {
  ApplyMonitoringCrds(true);
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  Report r;
  EXPECT_TRUE(Eventually([&] { return (r = Diagnose()).exit_code == 0; }, seconds(60)))
      << r.output << Logs();
  EXPECT_TRUE(r.doc["findings"].empty()) << r.output;
  auto k = Cli({"diagnose", kPool});
  EXPECT_EQ(k.exit_code, 0) << k.output;
  EXPECT_NE(k.output.find("no problems found"), std::string::npos) << k.output;

  // Gone: the operator notices (MonitoringAvailable False) and nothing else
  // is wrong.
  ApplyMonitoringCrds(false);
  EXPECT_TRUE(Eventually(
      [&] {
        r = Diagnose();
        return r.exit_code == 1 && !FindingOf(r.doc, "monitoring", "warning", "ServiceMonitor").is_null();
      },
      seconds(120), std::chrono::milliseconds(500)))
      << r.output;
  EXPECT_TRUE(FindingOf(r.doc, "", "error").is_null()) << r.output;
  k = Cli({"diagnose", kPool});
  EXPECT_EQ(k.exit_code, 1) << k.output;
  EXPECT_NE(k.output.find("WARNING [monitoring]"), std::string::npos) << k.output;
  EXPECT_NE(k.output.find("fix:"), std::string::npos) << k.output;

  k = Cli({"diagnose"});
  EXPECT_EQ(k.exit_code, 2) << k.output;
  k = Cli({"diagnose", kPool, "-o", "yaml"});
  EXPECT_EQ(k.exit_code, 2) << k.output;
}

TEST_F(DiagnoseTest, FindsACrashLoopARemovedDeviceAndAKubeletThatLostTheAgent) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();

  // An agent that cannot start: its last exit and log lines are the evidence.
  const SimNode& crashing = nodes_[0];
  ASSERT_NO_FATAL_FAILURE(SetAgentImageBroken(true, crashing.name));
  Report r = WaitFinding("agent", "error", "crash-loops");
  Json f = FindingOf(r.doc, "agent", "error", "crash-loops");
  ASSERT_FALSE(f.is_null()) << r.output << Logs();
  EXPECT_EQ(f["subject"], "node " + crashing.name) << r.output;
  EXPECT_NE(f["evidence"].dump().find("health-interval"), std::string::npos) << r.output;
  EXPECT_TRUE(std::regex_search(f["evidence"].dump(), std::regex(R"(log: [^"]*health-interval)")))
      << "the last run's log lines\n" << r.output;
  EXPECT_EQ(r.exit_code, 2) << r.output;
  ASSERT_NO_FATAL_FAILURE(SetAgentImageBroken(false, crashing.name));
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();

  // The devices of a node removed.
  const SimNode& bare = nodes_[1];
  const std::string dir = bare.root + "/var/lib/hashfoundry/devices/" + kPool;
  const std::string aside = work_ + "/devices.removed";
  fs::rename(dir, aside);
  EXPECT_TRUE(Eventually([&] { return NodeResource(bare.name, "allocatable") == "0"; }, seconds(60)));
  r = WaitFinding("report", "error", "every device on the node is unhealthy");
  f = FindingOf(r.doc, "report", "error", "every device on the node is unhealthy");
  EXPECT_EQ(f["subject"], "node " + bare.name) << r.output;
  EXPECT_NE(f["evidence"].dump().find("hashfoundry-device-3"), std::string::npos) << r.output;
  EXPECT_EQ(r.exit_code, 2) << r.output;
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(aside)) fs::copy_file(e.path(), dir + "/" + e.path().filename().string());
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();

  // A kubelet restart the agent does not see (it hangs): the agent's report
  // still says registered, the kubelet lists no devices.
  const SimNode& lost = nodes_[2];
  std::vector<int> agent = AgentPids(lost);
  ASSERT_FALSE(agent.empty());
  for (int pid : agent) kill(pid, SIGSTOP);
  Json node = Get(kube::resources::Nodes(), "", lost.name);
  int port = At(node, {"status", "daemonEndpoints", "kubeletEndpoint", "Port"});
  auto restart = hf::testing::Run({"curl", "-sf", "-XPOST", "http://127.0.0.1:" + std::to_string(port) + "/restart"});
  r = WaitFinding("report", "error", "lost the registration");
  for (int pid : agent) kill(pid, SIGCONT);
  ASSERT_EQ(restart.exit_code, 0) << restart.output;
  EXPECT_FALSE(FindingOf(r.doc, "report", "error", "lost the registration").is_null()) << r.output << Logs();
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(WaitPoolReady().exit_code, 0) << Logs();
}

TEST_F(DiagnoseTest, FindsAConflictNoMatchingNodesAndAStoppedOperator) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();

  // A second pool for the same resource on the same nodes: it is the newer.
  const std::string twin = kTwin;
  Json pool = Get(api::DevicePools(), "", kPool);
  Json copy = {{"apiVersion", pool["apiVersion"]},
               {"kind", pool["kind"]},
               {"metadata", {{"name", twin}}},
               {"spec", pool["spec"]}};
  ASSERT_TRUE(client_->Create(api::DevicePools(), "", copy).ok());
  Report r = WaitFinding("conflict", "error", "older pool " + std::string(kPool), twin);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = WaitFinding("conflict", "warning", twin);
  EXPECT_GE(r.exit_code, 1) << r.output;
  auto k = Kubectl({"delete", "devicepool", twin, "--timeout=120s"});
  ASSERT_EQ(k.exit_code, 0) << k.output;

  // A selector that matches no node.
  ASSERT_TRUE(client_
                  ->Patch(api::DevicePools(), "", kPool, kube::PatchType::kMerge,
                          R"({"spec":{"nodeSelector":{"matchLabels":{"hashfoundry.com/custom-device":"nowhere"}}}})")
                  .ok());
  r = WaitFinding("selector", "error", "no node matches");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  ASSERT_TRUE(client_
                  ->Patch(api::DevicePools(), "", kPool, kube::PatchType::kMerge,
                          R"({"spec":{"nodeSelector":{"matchLabels":{"hashfoundry.com/custom-device":"enabled"}}}})")
                  .ok());
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();

  // The operator stopped: it released its leader Lease.
  op_->Signal(SIGTERM);
  ASSERT_EQ(op_->Wait(), 0);
  op_.reset();
  r = WaitFinding("operator", "error", "no operator is running");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  ASSERT_FALSE(StartOperator().empty());
  EXPECT_TRUE(Eventually([&] { return FindingOf((r = Diagnose()).doc, "operator", "error").is_null(); }, seconds(60)))
      << r.output;
}

}  // namespace
}  // namespace hf::e2e
