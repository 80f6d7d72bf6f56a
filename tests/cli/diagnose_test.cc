// kubectl devicepool diagnose's judgement, as a table: a healthy snapshot of
// fixed objects, and for each fault the change it makes to them, the finding
// expected (check and severity) and the exit code. The same faults are
// provoked for real in tests/e2e/cli_test.cc.
#include "cli/diagnose.h"

#include <gtest/gtest.h>

#include <functional>

#include "api/device_pool_node.h"

namespace hf::cli {
namespace {

using Json = nlohmann::json;
using std::chrono::seconds;

const std::chrono::system_clock::time_point kNow = std::chrono::sys_days{std::chrono::year{2026} / 12 / 6} + std::chrono::hours{12};
constexpr char kResource[] = "hashfoundry.com/custom-device";

Json Crd(const std::string& name, const std::string& version = "v1alpha1") {
  return {{"metadata", {{"name", name}}},
          {"spec", {{"versions", {{{"name", version}, {"served", true}, {"storage", true}}}}}},
          {"status", {{"conditions", {{{"type", "Established"}, {"status", "True"}}}}}}};
}

Json Pool(const std::string& name, const std::string& created, const std::string& role = "enabled") {
  return {{"metadata", {{"name", name}, {"uid", "uid-" + name}, {"generation", 2}, {"creationTimestamp", created}}},
          {"spec",
           {{"resourceName", kResource},
            {"nodeSelector", {{"matchLabels", {{"hashfoundry.com/custom-device", role}}}}},
            {"discovery", {{"simulated", {{"count", 2}}}}}}},
          {"status",
           {{"observedGeneration", 2},
            {"conditions",
             {{{"type", "Ready"}, {"status", "True"}, {"reason", "AgentsReady"},
               {"lastTransitionTime", "2026-12-06T11:00:00Z"}},
              {{"type", "Degraded"}, {"status", "False"}, {"reason", "AsExpected"}}}}}}};
}

Json Node(const std::string& name) {
  return {{"metadata",
           {{"name", name},
            {"uid", "uid-" + name},
            {"labels", {{"hashfoundry.com/custom-device", "enabled"}, {"devicepool.hashfoundry.com/pool", "enabled"}}}}},
          {"status",
           {{"conditions", {{{"type", "Ready"}, {"status", "True"}}}},
            {"capacity", {{kResource, "2"}}},
            {"allocatable", {{kResource, "2"}}}}}};
}

Json Report(const std::string& node) {
  return {{"apiVersion", "hashfoundry.com/v1alpha1"},
          {"kind", "DevicePoolNode"},
          {"metadata", {{"name", api::DevicePoolNodeName("pool", node)}, {"uid", "uid-report-" + node}}},
          {"spec", {{"pool", "pool"}, {"node", node}}},
          {"status",
           {{"registered", true},
            {"devices",
             {{{"id", "d-0"}, {"health", "Healthy"}}, {{"id", "d-1"}, {"health", "Healthy"}}}},
            {"counts", {{"total", 2}, {"healthy", 2}, {"allocated", 0}}}}}};
}

Json AgentPod(const std::string& node) {
  return {{"metadata", {{"name", "devicepool-pool-" + node}, {"namespace", "hf"}, {"uid", "uid-pod-" + node}}},
          {"spec", {{"nodeName", node}}},
          {"status",
           {{"phase", "Running"},
            {"conditions", {{{"type", "Ready"}, {"status", "True"}}}},
            {"containerStatuses", {{{"name", "agent"}, {"restartCount", 0}, {"state", {{"running", Json::object()}}}}}}}}};
}

Snapshot Healthy() {
  Snapshot s;
  s.pool = "pool";
  s.now = kNow;
  for (const char* c : {"devicepools.hashfoundry.com", "devicepoolnodes.hashfoundry.com",
                        "servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com"}) {
    s.crds[c] = Crd(c, std::string(c).find("monitoring") != std::string::npos ? "v1" : "v1alpha1");
  }
  s.leases.push_back({{"metadata", {{"name", kOperatorLeaseName}, {"namespace", "hf"}}},
                      {"spec",
                       {{"holderIdentity", "operator-abc"},
                        {"renewTime", "2026-12-06T11:59:58.000000Z"},
                        {"leaseDurationSeconds", 15}}}});
  s.deployments.push_back({{"metadata", {{"name", "hf"}, {"namespace", "hf"}}},
                           {"spec", {{"replicas", 1}}},
                           {"status", {{"availableReplicas", 1}}}});
  s.pools.push_back(Pool("pool", "2026-12-01T00:00:00Z"));
  s.daemon_sets.push_back({{"metadata", {{"name", "devicepool-pool"}, {"namespace", "hf"}, {"uid", "uid-ds"}}}});
  for (const char* n : {"n1", "n2"}) {
    s.nodes.push_back(Node(n));
    s.reports.push_back(Report(n));
    s.agent_pods.push_back(AgentPod(n));
  }
  s.nodes.push_back({{"metadata", {{"name", "other"}, {"uid", "uid-other"}}},
                     {"status", {{"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}});
  return s;
}

Json Event(const std::string& kind, const std::string& name, const std::string& uid, const std::string& when) {
  return {{"type", "Warning"},
          {"reason", "BackOff"},
          {"note", "Back-off restarting failed container"},
          {"eventTime", when},
          {"regarding", {{"kind", kind}, {"name", name}, {"uid", uid}}}};
}

bool Has(const std::vector<Finding>& fs, const std::string& check, Severity sev) {
  for (const auto& f : fs) {
    if (f.check == check && f.severity == sev) return true;
  }
  return false;
}

TEST(DiagnoseTest, AHealthyPoolHasNoFindings) {
  Snapshot s = Healthy();
  auto fs = Diagnose(s);
  EXPECT_TRUE(fs.empty()) << RenderFindings(s, fs, false);
  EXPECT_EQ(ExitCode(fs), 0);
  EXPECT_NE(RenderFindings(s, fs, false).find("no problems found"), std::string::npos);
  EXPECT_NE(RenderFindings(s, fs, false).find("operator (leader operator-abc in hf)"), std::string::npos)
      << RenderFindings(s, fs, false);
}

struct Case {
  const char* name;
  std::function<void(Snapshot&)> fault;
  const char* check;
  Severity severity;
  int exit_code;
};

TEST(DiagnoseTest, EachFaultIsFoundWithItsSeverity) {
  const std::vector<Case> cases = {
      {"the CRD is missing", [](Snapshot& s) { s.crds.erase("devicepoolnodes.hashfoundry.com"); }, "crds",
       Severity::kError, 2},
      {"the CRD serves another version",
       [](Snapshot& s) { s.crds["devicepools.hashfoundry.com"] = Crd("devicepools.hashfoundry.com", "v1beta9"); },
       "crds", Severity::kError, 2},
      {"the operator stopped: its Lease released",
       [](Snapshot& s) { s.leases[0]["spec"]["holderIdentity"] = ""; }, "operator", Severity::kError, 2},
      {"the operator died: its Lease expired",
       [](Snapshot& s) { s.leases[0]["spec"]["renewTime"] = "2026-12-06T11:58:00Z"; }, "operator", Severity::kError,
       2},
      {"two operators", [](Snapshot& s) {
         Json l = s.leases[0];
         l["metadata"]["namespace"] = "other";
         s.leases.push_back(l);
       },
       "operator", Severity::kError, 2},
      {"the operator Deployment is short of replicas",
       [](Snapshot& s) { s.deployments[0]["spec"]["replicas"] = 2; }, "operator", Severity::kWarning, 1},
      {"no pool of that name", [](Snapshot& s) { s.pool = "nope"; }, "pool", Severity::kError, 2},
      {"the status is behind the spec",
       [](Snapshot& s) { s.pools[0]["metadata"]["generation"] = 3; }, "pool", Severity::kWarning, 1},
      {"no nodes match",
       [](Snapshot& s) {
         s.pools[0]["spec"]["nodeSelector"]["matchLabels"]["hashfoundry.com/custom-device"] = "nowhere";
       },
       "selector", Severity::kError, 2},
      {"a conflict with an older pool",
       [](Snapshot& s) { s.pools.push_back(Pool("older", "2026-11-01T00:00:00Z")); }, "conflict", Severity::kError,
       2},
      {"a newer pool wants the nodes",
       [](Snapshot& s) { s.pools.push_back(Pool("newer", "2026-12-05T00:00:00Z")); }, "conflict",
       Severity::kWarning, 1},
      {"no DaemonSet", [](Snapshot& s) { s.daemon_sets.clear(); }, "daemonset", Severity::kError, 2},
      {"an agent crash-loops",
       [](Snapshot& s) {
         Json& c = s.agent_pods[0]["status"]["containerStatuses"][0];
         c["restartCount"] = 4;
         c["state"] = {{"waiting", {{"reason", "CrashLoopBackOff"}}}};
         c["lastState"] = {{"terminated", {{"exitCode", 1}, {"reason", "Error"}, {"message", "bad --health-interval"}}}};
         s.agent_pods[0]["status"]["conditions"][0]["status"] = "False";
         s.agent_logs["devicepool-pool-n1"] = "line one\nfatal: bad --health-interval\n";
       },
       "agent", Severity::kError, 2},
      {"a node is NotReady",
       [](Snapshot& s) { s.nodes[1]["status"]["conditions"][0]["status"] = "Unknown"; }, "node", Severity::kError, 2},
      {"a report is missing", [](Snapshot& s) { s.reports.pop_back(); }, "report", Severity::kError, 2},
      {"the agent is not registered", [](Snapshot& s) { s.reports[0]["status"]["registered"] = false; }, "report",
       Severity::kError, 2},
      {"the kubelet restarted and lost the registration",
       [](Snapshot& s) {
         s.nodes[0]["status"]["capacity"][kResource] = "0";
         s.nodes[0]["status"]["allocatable"][kResource] = "0";
       },
       "report", Severity::kError, 2},
      {"a removed device",
       [](Snapshot& s) {
         s.reports[0]["status"]["devices"][1]["health"] = "Unhealthy";
         s.reports[0]["status"]["counts"]["healthy"] = 1;
         s.nodes[0]["status"]["allocatable"][kResource] = "1";
       },
       "report", Severity::kWarning, 1},
      {"every device removed",
       [](Snapshot& s) {
         for (auto& d : s.reports[0]["status"]["devices"]) d["health"] = "Unhealthy";
         s.reports[0]["status"]["counts"]["healthy"] = 0;
         s.nodes[0]["status"]["allocatable"][kResource] = "0";
       },
       "report", Severity::kError, 2},
      {"pods wait for the resource",
       [](Snapshot& s) {
         s.pending_pods.push_back(
             {{"metadata", {{"name", "w"}, {"namespace", "app"}}},
              {"spec", {{"containers", {{{"name", "c"}, {"resources", {{"limits", {{kResource, "3"}}}}}}}}}},
              {"status",
               {{"conditions",
                 {{{"type", "PodScheduled"}, {"status", "False"}, {"message", "0/3 nodes: Insufficient"}}}}}}});
       },
       "workloads", Severity::kWarning, 1},
      {"the monitoring CRDs are missing",
       [](Snapshot& s) {
         s.crds.erase("servicemonitors.monitoring.coreos.com");
         s.crds.erase("prometheusrules.monitoring.coreos.com");
       },
       "monitoring", Severity::kWarning, 1},
      {"a recent Warning Event on an agent pod",
       [](Snapshot& s) { s.events.push_back(Event("Pod", "devicepool-pool-n1", "uid-pod-n1", "2026-12-06T11:30:00Z")); },
       "events", Severity::kWarning, 1},
  };
  for (const auto& c : cases) {
    Snapshot s = Healthy();
    c.fault(s);
    auto fs = Diagnose(s);
    EXPECT_TRUE(Has(fs, c.check, c.severity)) << c.name << "\n" << RenderFindings(s, fs, false);
    EXPECT_EQ(ExitCode(fs), c.exit_code) << c.name << "\n" << RenderFindings(s, fs, false);
    Json j = FindingsJson(s, fs);
    EXPECT_EQ(j["exitCode"], c.exit_code) << c.name;
    EXPECT_FALSE(j["findings"].empty()) << c.name;
    for (const auto& f : fs) EXPECT_FALSE(f.fix.empty()) << c.name << ": " << f.message;
  }
}

// A DRA pool's devices are not on the Node: no allocatable to miss, and an
// unregistered agent is told about the plugin directories.
TEST(DiagnoseTest, ADraPoolIsNotCheckedAgainstTheNodesAllocatable) {
  Snapshot s = Healthy();
  s.pools[0]["spec"]["allocationAPI"] = "DRA";
  for (auto& n : s.nodes) {
    if (n["status"].contains("capacity")) {
      n["status"].erase("capacity");
      n["status"].erase("allocatable");
    }
  }
  auto fs = Diagnose(s);
  EXPECT_TRUE(fs.empty()) << RenderFindings(s, fs, false);

  s.reports[0]["status"]["registered"] = false;
  fs = Diagnose(s);
  ASSERT_TRUE(Has(fs, "report", Severity::kError)) << RenderFindings(s, fs, false);
  EXPECT_NE(RenderFindings(s, fs, false).find("has not registered the agent's DRA driver"), std::string::npos)
      << RenderFindings(s, fs, false);
  EXPECT_NE(RenderFindings(s, fs, false).find("plugins_registry"), std::string::npos);
}

TEST(DiagnoseTest, ACrashLoopShowsTheLastExitAndLog) {
  Snapshot s = Healthy();
  Json& c = s.agent_pods[0]["status"]["containerStatuses"][0];
  c["restartCount"] = 3;
  c["state"] = {{"waiting", {{"reason", "CrashLoopBackOff"}}}};
  c["lastState"] = {{"terminated", {{"exitCode", 2}, {"reason", "Error"}, {"message", "--health-interval: must be > 0"}}}};
  s.agent_logs["devicepool-pool-n1"] = "starting\nfatal: --health-interval: must be > 0\n";
  std::string text = RenderFindings(s, Diagnose(s), false);
  EXPECT_NE(text.find("last exit: code 2 (Error): --health-interval: must be > 0"), std::string::npos) << text;
  EXPECT_NE(text.find("log: fatal: --health-interval: must be > 0"), std::string::npos) << text;
  EXPECT_NE(text.find("ERROR   [agent] node n1: the agent crash-loops"), std::string::npos) << text;
  EXPECT_NE(text.find("fix:"), std::string::npos) << text;
}

TEST(DiagnoseTest, EventsBeforeThePoolTurnedReadyOrOfAnEarlierPoolAreHistory) {
  Snapshot s = Healthy();
  // Before Ready's lastTransitionTime (11:00).
  s.events.push_back(Event("Pod", "devicepool-pool-n1", "uid-pod-n1", "2026-12-06T10:59:00Z"));
  // A pool of the same name, deleted earlier: another uid.
  s.events.push_back(Event("DevicePool", "pool", "uid-of-an-earlier-pool", "2026-12-06T11:50:00Z"));
  // Some other object.
  s.events.push_back(Event("Pod", "unrelated", "uid-unrelated", "2026-12-06T11:50:00Z"));
  auto fs = Diagnose(s);
  EXPECT_TRUE(fs.empty()) << RenderFindings(s, fs, false);
}

TEST(DiagnoseTest, NodeNarrowsThePerNodeChecks) {
  Snapshot s = Healthy();
  s.reports.pop_back();  // n2's report is missing
  s.node = "n1";
  EXPECT_EQ(ExitCode(Diagnose(s)), 0);
  s.node = "n2";
  EXPECT_EQ(ExitCode(Diagnose(s)), 2);
  s.node = "other";
  auto fs = Diagnose(s);
  EXPECT_TRUE(Has(fs, "selector", Severity::kError)) << RenderFindings(s, fs, false);
}

}  // namespace
}  // namespace hf::cli
