// Monitoring with a real Prometheus in the loop: the server built from the
// same module as promtool, configured by tests/cluster's prometheus-sync from
// the ServiceMonitors and PrometheusRules in the API server (the pool's, as
// the operator wrote them, and the chart's own for the operator), finding
// its targets through the API server's EndpointSlices and Nodes. The
// operator runs as the chart's Deployment on a simulated node, so that its
// Service has an endpoint to scrape.
//
// Each alert is provoked for real and must fire, then resolve: a device
// removed, an agent crash-looping, the kubelet's socket gone, devices allocated
// past the pool's ratio. And every query of every dashboard panel, with its
// variables substituted, must return data.
#include <curl/curl.h>

#include "tests/e2e/e2e_fixture.h"

namespace hf::e2e {
namespace {

// Thresholds short enough to watch an alert go pending, fire and resolve.
constexpr char kMonitoringPatch[] = R"({"spec":{"monitoring":{
  "serviceMonitor":{"interval":"1s"},
  "prometheusRule":{"pluginDownFor":"3s","unhealthyFor":"3s","allocationHighFor":"3s","allocationHighRatio":0.25}}}})";

std::string UrlEncode(const std::string& s) {
  std::string out;
  char* e = curl_easy_escape(nullptr, s.c_str(), static_cast<int>(s.size()));
  if (e != nullptr) {
    out = e;
    curl_free(e);
  }
  return out;
}

class PrometheusTest : public E2eTest {
 protected:
  void SetUp() override {
    crds_ = Source("tests/operator/integration/testdata/monitoring-crds.yaml");
    // The monitoring CRDs first, so that helm renders the chart's
    // ServiceMonitor (serviceMonitor.enabled is on by default, where served).
    bin_ = cluster_.Env("HF_CLUSTER_BIN");
    // An earlier test's CRDs may still be terminating: applying now would
    // meet them, and then see them go.
    auto gone = Kubectl({"wait", "--for=delete", "crd/servicemonitors.monitoring.coreos.com",
                         "crd/prometheusrules.monitoring.coreos.com", "--timeout=120s"});
    ASSERT_EQ(gone.exit_code, 0) << gone.output;
    ApplyCrds(crds_, {"servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com"});
    if (HasFatalFailure()) return;
    operator_in_pod_ = true;
    extra_helm_args_ = {"--set", "serviceMonitor.interval=1s"};
    E2eTest::SetUp();
    if (HasFatalFailure()) return;
    auto k = Kubectl({"patch", "devicepool", kPool, "--type=merge", "-p", kMonitoringPatch});
    ASSERT_EQ(k.exit_code, 0) << k.output;

    const std::string dir = work_ + "/prometheus";
    fs::create_directories(dir);
    const std::string log = work_ + "/prometheus-sync.log";
    extra_logs_ = {log, dir + "/prometheus.log"};
    prom_ = ChildProcess::Start({bin_ + "/prometheus-sync", "--kubeconfig=" + cluster_.kubeconfig(), "--dir=" + dir,
                                 "--kubelet-scrape-interval=1s"},
                                log);
    ASSERT_NE(prom_, nullptr);
    ASSERT_TRUE(Eventually(
        [&] {
          std::ifstream in(dir + "/url");
          return static_cast<bool>(std::getline(in, url_)) && !url_.empty();
        },
        seconds(120)))
        << Logs();
    ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
    // Every agent, the operator and every kubelet scraped, and the pool's
    // rules loaded with this test's thresholds.
    ASSERT_TRUE(Eventually([&] { return Count(R"(up{job="devicepool-custom-device"} == 1)") == node_count_; },
                           seconds(120)))
        << Query(R"(up)").dump() << "\n"
        << Logs();
    // The chart's Service for the operator is <fullname>-metrics.
    ASSERT_TRUE(Eventually([&] { return Count("up{job=\"" + release_ + "-metrics\",container=\"operator\"} == 1") == 1; },
                           seconds(120)))
        << Query(R"(up)").dump() << "\n"
        << Logs();
    ASSERT_TRUE(Eventually([&] { return Count(R"(up{job="kubelet"} == 1)") == node_count_; }, seconds(60)))
        << Query(R"(up)").dump();
    ASSERT_TRUE(Eventually([&] { return RuleFor("DeviceUnhealthy") == "3s"; }, seconds(60)));
  }

  void TearDown() override {
    if (prom_) {
      prom_->Signal(SIGTERM);
      EXPECT_EQ(prom_->Wait(), 0) << Tail(work_ + "/prometheus-sync.log");
    }
    // Only once the base SetUp has begun (it makes client_) is there
    // anything of it to tear down.
    if (client_) E2eTest::TearDown();
    auto k = Kubectl({"delete", "-f", crds_, "--ignore-not-found", "--wait=true", "--timeout=120s"});
    EXPECT_EQ(k.exit_code, 0) << k.output;
  }

  // GET /api/v1/PATH from Prometheus; its "data", or null.
  Json Api(const std::string& path) {
    auto r = hf::testing::Run({"curl", "-sf", "--max-time", "10", url_ + "/api/v1/" + path});
    if (r.exit_code != 0) return Json();
    Json body = Json::parse(r.output, nullptr, false);
    if (body.is_discarded() || body.value("status", "") != "success") return Json();
    return body["data"];
  }

  // An instant query's result vector (empty when none, or on error).
  Json Query(const std::string& promql) {
    Json data = Api("query?query=" + UrlEncode(promql));
    return data.is_object() && data["result"].is_array() ? data["result"] : Json::array();
  }

  int Count(const std::string& promql) { return static_cast<int>(Query(promql).size()); }

  // The firing alerts named `name`, by their labels.
  std::vector<Json> Firing(const std::string& name) {
    std::vector<Json> out;
    Json data = Api("alerts");
    if (!data.is_object() || !data["alerts"].is_array()) return out;
    for (const auto& a : data["alerts"]) {
      if (a.value("state", "") == "firing" && StringAt(a, {"labels", "alertname"}) == name) out.push_back(a["labels"]);
    }
    return out;
  }

  // The "for" of the loaded alerting rule `name`, as Prometheus reports it.
  std::string RuleFor(const std::string& name) {
    Json data = Api("rules?type=alert");
    if (!data.is_object()) return "";
    for (const auto& g : data["groups"]) {
      for (const auto& r : g["rules"]) {
        if (r.value("name", "") == name && r["duration"].is_number()) {
          return std::to_string(r["duration"].get<int>()) + "s";
        }
      }
    }
    return "";
  }

  bool FiringWith(const std::string& alert, const std::string& label, const std::string& value) {
    for (const auto& l : Firing(alert)) {
      if (l.value(label, "") == value) return true;
    }
    return false;
  }

  std::string crds_, url_;
  std::unique_ptr<ChildProcess> prom_;
};

TEST_F(PrometheusTest, DeviceUnhealthyFiresForTheNodeAndResolvesWhenTheDeviceIsBack) {
  const SimNode& n = nodes_[0];
  const std::string device = n.root + "/var/lib/hashfoundry/devices/" + kPool + "/hashfoundry-device-3";
  const std::string aside = work_ + "/hashfoundry-device-3.removed";
  EXPECT_TRUE(Firing("DeviceUnhealthy").empty());
  fs::rename(device, aside);
  EXPECT_TRUE(Eventually([&] { return FiringWith("DeviceUnhealthy", "node", n.name); }, seconds(90)))
      << Api("alerts").dump() << "\n"
      << Logs();
  EXPECT_EQ(Firing("DeviceUnhealthy").size(), 1u);  // only that node
  fs::rename(aside, device);
  EXPECT_TRUE(Eventually([&] { return Firing("DeviceUnhealthy").empty(); }, seconds(90))) << Api("alerts").dump();
}

// An agent that crash-loops answers no scrape: its pod stays in the
// Service's EndpointSlice (not ready), so Prometheus keeps it as a target
// that is down. (A SIGSTOPped agent would be restarted by its liveness probe
// within seconds, sooner than a real pluginDownFor.)
TEST_F(PrometheusTest, DevicePluginDownFiresForACrashLoopingAgentAndResolvesWhenItRuns) {
  const SimNode& n = nodes_[1];
  ASSERT_NO_FATAL_FAILURE(SetAgentImageBroken(true, n.name));
  std::string pod;
  EXPECT_TRUE(Eventually(
      [&] {
        pod = StringAt(AgentPod(n.name), {"metadata", "name"});
        return !pod.empty() && FiringWith("DevicePluginDown", "pod", pod);
      },
      seconds(120)))
      << Api("alerts").dump() << "\n"
      << Logs();
  EXPECT_EQ(Firing("DevicePluginDown").size(), 1u);

  ASSERT_NO_FATAL_FAILURE(SetAgentImageBroken(false, n.name));
  EXPECT_TRUE(Eventually([&] { return Firing("DevicePluginDown").empty(); }, seconds(120))) << Api("alerts").dump();
}

TEST_F(PrometheusTest, DevicePluginNotRegisteredFiresWhenTheKubeletSocketGoesAway) {
  const SimNode& n = nodes_[2];
  fs::remove(n.root + "/var/lib/kubelet/device-plugins/kubelet.sock");
  EXPECT_TRUE(Eventually([&] { return FiringWith("DevicePluginNotRegistered", "node", n.name); }, seconds(90)))
      << Api("alerts").dump() << "\n"
      << Logs();
  EXPECT_EQ(Firing("DevicePluginNotRegistered").size(), 1u);
  EXPECT_TRUE(Firing("DevicePluginDown").empty());  // the agent still answers
  // A kubelet restart makes the socket anew; the agent registers again.
  Json port = At(Get(kube::resources::Nodes(), "", n.name), {"status", "daemonEndpoints", "kubeletEndpoint", "Port"});
  ASSERT_TRUE(port.is_number_integer());
  auto r = hf::testing::Run(
      {"curl", "-sf", "-X", "POST", "http://127.0.0.1:" + std::to_string(port.get<int>()) + "/restart"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Eventually([&] { return Firing("DevicePluginNotRegistered").empty(); }, seconds(90)))
      << Api("alerts").dump();
}

// The seed's workloads hold 4 of the pool's 12 devices: past this test's
// ratio of 0.25. With them running, every dashboard panel has data.
TEST_F(PrometheusTest, AllocationPastTheRatioFiresAndEveryDashboardPanelHasData) {
  EXPECT_TRUE(Firing("DeviceAllocationHigh").empty());
  ApplySeedWorkloads();
  EXPECT_TRUE(Eventually([&] { return !Firing("DeviceAllocationHigh").empty(); }, seconds(120)))
      << Api("alerts").dump() << "\n"
      << Logs();

  std::ifstream in(Source("charts/hashfoundry-device-operator/dashboards/hashfoundry-devices.json"));
  Json dashboard = Json::parse(in);
  const std::map<std::string, std::string> vars = {
      {"$pool", kPool}, {"$node", nodes_[0].name}, {"$resource", kResource}, {"$__rate_interval", "1m"}};
  auto substitute = [&](std::string expr) {
    for (const auto& [k, v] : vars) {
      for (size_t at = expr.find(k); at != std::string::npos; at = expr.find(k, at + v.size())) {
        expr.replace(at, k.size(), v);
      }
    }
    return expr;
  };
  // The template variables: label_values(METRIC, LABEL) must find values.
  static const std::regex label_values(R"(label_values\((.*), *([a-z_]+)\))");
  for (const auto& v : dashboard["templating"]["list"]) {
    if (v.value("type", "") != "query") continue;
    std::string q = v["query"].is_object() ? v["query"].value("query", "") : v.value("query", "");
    std::smatch m;
    ASSERT_TRUE(std::regex_match(q, m, label_values)) << q;
    const std::string expr = substitute(m[1]), label = m[2];
    EXPECT_TRUE(Eventually(
        [&] {
          for (const auto& s : Query(expr)) {
            if (s["metric"].is_object() && !s["metric"].value(label, "").empty()) return true;
          }
          return false;
        },
        seconds(60)))
        << "variable " << v.value("name", "") << ": " << expr << " has no " << label;
  }
  // Every panel's every query.
  int queries = 0;
  std::function<void(const Json&)> walk = [&](const Json& panels) {
    for (const auto& p : panels) {
      if (p.contains("panels")) walk(p["panels"]);
      if (!p.contains("targets")) continue;
      for (const auto& t : p["targets"]) {
        const std::string expr = substitute(t.value("expr", ""));
        ++queries;
        EXPECT_TRUE(Eventually([&] { return Count(expr) > 0; }, seconds(60)))
            << "panel \"" << p.value("title", "") << "\" shows No data: " << expr;
      }
    }
  };
  walk(dashboard["panels"]);
  EXPECT_GE(queries, 10);
}

}  // namespace
}  // namespace hf::e2e
