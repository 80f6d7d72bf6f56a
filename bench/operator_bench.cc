// Operator benchmarks against a real control plane (tests/cluster), each
// printing one Markdown result block for bench/RESULTS.md:
//
//   operator_bench label N      labelling N nodes for a new pool: the operator
//                               against `kubectl label nodes --all`, same run
//   operator_bench memory N P   operator RSS with N nodes, P pools, N reports
//   operator_bench latency P    pool created -> its DaemonSet exists, P pools
//   operator_bench steady P     API requests in 60 s with P idle pools
//   operator_bench churn P [R]  operator RSS after rounds of P pools created and
//                               deleted: 4 rounds, the Event series window, then
//                               R more (default 2), to see whether RSS levels off
//
// --smoke shrinks every size and turns the figures into correctness checks
// (exit 1 when a check fails), for CI. Timings are wall time on a shared
// machine, so only ratios measured in one run are compared.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "api/names.h"
#include "kube/rest/client.h"
#include "tests/testing/cluster.h"

namespace hf::bench {
namespace {

using hf::testing::ChildProcess;
using hf::testing::Eventually;
using hf::testing::LocalCluster;
using kube::Json;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

bool smoke = false;
int failures = 0;
// Flags for the operator given after the benchmark's numbers (--qps=0, say).
std::vector<std::string> operator_flags;

void Check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "CHECK FAILED: %s\n", what.c_str());
    ++failures;
  }
}

struct Env {
  std::unique_ptr<LocalCluster> cluster;
  std::unique_ptr<kube::Client> client;
  std::string ns = "hashfoundry-system";

  explicit Env(const std::string& tag) {
    std::string dir = std::filesystem::temp_directory_path() / hf::testing::UniqueName("hf-bench-" + tag);
    cluster = LocalCluster::Start(dir);
    client = std::make_unique<kube::Client>(kube::NewCurlTransport(cluster->AdminConfig()));
    auto k = cluster->Kubectl({"apply", "--server-side", "-f", std::string(HF_SOURCE_DIR) + "/crds/"});
    Check(k.exit_code == 0, "apply CRDs: " + k.output);
    cluster->Kubectl({"wait", "--for=condition=Established", "crd/devicepools.hashfoundry.com",
                      "crd/devicepoolnodes.hashfoundry.com", "--timeout=60s"});
    cluster->Kubectl({"create", "namespace", ns});
    cluster->Kubectl({"create", "clusterrole", "hashfoundry-device-operator-agent", "--verb=get",
                      "--resource=devicepoolnodes.hashfoundry.com"});
  }

  // Nodes node-0..node-(n-1), label group=<i % groups>, created 8 at a time.
  void CreateNodes(int n, int groups) {
    std::atomic<int> next{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < 8; ++w) {
      workers.emplace_back([&] {
        for (int i; (i = next.fetch_add(1)) < n;) {
          Json node = {{"apiVersion", "v1"},
                       {"kind", "Node"},
                       {"metadata",
                        {{"name", "node-" + std::to_string(i)},
                         {"labels", {{"bench", "yes"}, {"group", std::to_string(i % groups)}}}}}};
          (void)client->Create(kube::resources::Nodes(), "", node);
        }
      });
    }
    for (auto& t : workers) t.join();
  }

  // The operator with its defaults (as the chart runs it) and operator_flags.
  std::unique_ptr<ChildProcess> StartOperator(const std::string& log) {
    std::vector<std::string> args = {HF_OPERATOR_BIN, "--kubeconfig=" + cluster->kubeconfig(), "--namespace=" + ns,
                                     "--http-address=127.0.0.1:0"};
    args.insert(args.end(), operator_flags.begin(), operator_flags.end());
    return ChildProcess::Start(args, cluster->dir() + "/" + log);
  }

  Json Pool(const std::string& name, const std::map<std::string, std::string>& match) {
    return {{"apiVersion", "hashfoundry.com/v1alpha1"},
            {"kind", "DevicePool"},
            {"metadata", {{"name", name}}},
            {"spec",
             {{"resourceName", "hashfoundry.com/" + name},
              {"nodeSelector", {{"matchLabels", match}}},
              {"discovery", {{"simulated", {{"count", 4}}}}},
              {"monitoring", {{"serviceMonitor", {{"enabled", false}}}, {"prometheusRule", {{"enabled", false}}}}}}}};
  }

  int Labelled(const std::string& label, std::string* rv = nullptr) {
    kube::ListOptions lo;
    lo.label_selector = label;
    lo.metadata_only = true;
    int count = 0;
    std::string list_rv;
    (void)client->ListEach(kube::resources::Nodes(), "", lo, [&](Json&&) { ++count; }, &list_rv);
    if (rv) *rv = list_rv;
    return count;
  }

  // Waits until n nodes carry label, on a watch from rv (a list every 100 ms
  // of thousands of nodes would load the API server the operator is timed
  // against). False after timeout.
  bool WaitLabelled(const std::string& label, int n, const std::string& rv, std::chrono::seconds timeout) {
    std::mutex mu;
    std::condition_variable cv;
    std::set<std::string> seen;
    std::stop_source stop;
    std::jthread watcher([&] {
      kube::WatchOptions wo;
      wo.resource_version = rv;
      wo.label_selector = label;
      wo.metadata_only = true;
      (void)client->Watch(
          kube::resources::Nodes(), "", wo,
          [&](kube::WatchEvent&& ev) {
            if (ev.type != kube::WatchEventType::kAdded && ev.type != kube::WatchEventType::kModified) return true;
            std::lock_guard<std::mutex> l(mu);
            seen.insert(ev.object["metadata"].value("name", ""));
            if (static_cast<int>(seen.size()) >= n) cv.notify_all();
            return static_cast<int>(seen.size()) < n;
          },
          stop.get_token());
    });
    std::unique_lock<std::mutex> l(mu);
    bool done = cv.wait_for(l, timeout, [&] { return static_cast<int>(seen.size()) >= n; });
    stop.request_stop();
    return done;
  }
};

// CPU seconds (user + system) a process has used so far; 0 if it is gone.
double CpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i >= 14) ticks += std::stod(f);  // utime (14), stime (15)
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// CPU seconds used so far by the control plane's processes (the pids file
// `cluster up` writes: NAME PID STARTTIME per line).
double ControlPlaneCpuSeconds(const std::string& cluster_dir) {
  std::ifstream in(cluster_dir + "/pids");
  double total = 0;
  std::string name;
  int pid = 0;
  std::string start;
  while (in >> name >> pid >> start) total += CpuSeconds(pid);
  return total;
}

long RssKiB(int pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field)));
  }
  return -1;
}

void Label(int n) {
  Env env("label");
  env.CreateNodes(n, 1);
  // kubectl, the seed's way: one PATCH per node, in order.
  auto start = Clock::now();
  auto k = env.cluster->Kubectl({"label", "nodes", "--all", "hashfoundry.com/custom-device=enabled"});
  double kubectl_s = Seconds(Clock::now() - start);
  Check(k.exit_code == 0, "kubectl label: " + k.output.substr(0, 300));
  Check(env.Labelled("hashfoundry.com/custom-device=enabled") == n, "kubectl labelled every node");

  auto op = env.StartOperator("operator.log");
  Check(Eventually([&] { return op->Log().find("caches synced") != std::string::npos; }), "operator synced");
  std::string label = api::NodeSelectionLabel("bench") + "=enabled";
  std::string rv;
  Check(env.Labelled(label, &rv) == 0, "no node labelled before the pool");
  double cp_cpu = ControlPlaneCpuSeconds(env.cluster->dir()), op_cpu = CpuSeconds(op->pid());
  start = Clock::now();
  auto r = env.client->Create(api::DevicePools(), "", env.Pool("bench", {{"bench", "yes"}}));
  Check(r.ok(), "create pool");
  bool done = env.WaitLabelled(label, n, rv, std::chrono::seconds(600));
  double op_s = Seconds(Clock::now() - start);
  cp_cpu = ControlPlaneCpuSeconds(env.cluster->dir()) - cp_cpu;
  op_cpu = CpuSeconds(op->pid()) - op_cpu;
  Check(done && env.Labelled(label) == n, "operator labelled every node");
  std::printf("| label %d nodes | operator %.2f s | kubectl label --all %.2f s | ratio %.1fx |\n", n, op_s, kubectl_s,
              kubectl_s / op_s);
  std::printf("\nWhile the operator labelled: control plane (API server, etcd, controllers) %.1f s of CPU, "
              "the operator %.1f s, in %.2f s on %u cores (%.0f%% busy).\n",
              cp_cpu, op_cpu, op_s, std::thread::hardware_concurrency(),
              100 * (cp_cpu + op_cpu) / (op_s * std::thread::hardware_concurrency()));
}

void Memory(int n, int pools) {
  Env env("memory");
  env.CreateNodes(n, pools);
  auto op = env.StartOperator("operator.log");
  for (int p = 0; p < pools; ++p) {
    (void)env.client->Create(api::DevicePools(), "", env.Pool("pool-" + std::to_string(p), {{"group", std::to_string(p)}}));
  }
  // One report per node, as each node's agent would write.
  std::atomic<int> next{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < n;) {
        std::string pool = "pool-" + std::to_string(i % pools), node = "node-" + std::to_string(i);
        Json report = {{"apiVersion", "hashfoundry.com/v1alpha1"},
                       {"kind", "DevicePoolNode"},
                       {"metadata", {{"name", pool + "." + node}, {"labels", {{"hashfoundry.com/pool", pool}}}}},
                       {"spec", {{"pool", pool}, {"node", node}}}};
        (void)env.client->Create(api::DevicePoolNodes(), "", report);
      }
    });
  }
  for (auto& t : workers) t.join();
  bool done = Eventually([&] { return env.Labelled("devicepool.hashfoundry.com/pool-0=enabled") == n / pools &&
                                      env.Labelled("devicepool.hashfoundry.com/pool-" + std::to_string(pools - 1) + "=enabled") ==
                                          n / pools; },
                         std::chrono::seconds(600), std::chrono::milliseconds(500));
  Check(done, "every pool labelled its nodes");
  long rss = RssKiB(op->pid(), "VmRSS:"), hwm = RssKiB(op->pid(), "VmHWM:");
  std::printf("| operator memory, %d nodes, %d pools, %d reports | RSS %.1f MiB | peak %.1f MiB |\n", n, pools, n,
              rss / 1024.0, hwm / 1024.0);
  Check(rss > 0, "operator RSS read");
}

void Latency(int pools) {
  Env env("latency");
  env.CreateNodes(1, 1);
  auto op = env.StartOperator("operator.log");
  Check(Eventually([&] { return op->Log().find("caches synced") != std::string::npos; }), "operator synced");
  std::map<std::string, Clock::time_point> created;
  std::map<std::string, double> latency;
  std::mutex mu;
  std::stop_source stop;
  // Watch DaemonSets and note when each pool's appears.
  std::jthread watcher([&] {
    kube::WatchOptions wo;
    wo.resource_version = "0";
    (void)env.client->Watch(
        kube::resources::DaemonSets(), env.ns, wo,
        [&](kube::WatchEvent&& ev) {
          if (ev.type != kube::WatchEventType::kAdded) return true;
          std::string pool = ev.object["metadata"]["labels"].value("hashfoundry.com/pool", "");
          std::lock_guard<std::mutex> l(mu);
          if (created.count(pool) && !latency.count(pool)) latency[pool] = Seconds(Clock::now() - created[pool]);
          return true;
        },
        stop.get_token());
  });
  for (int p = 0; p < pools; ++p) {
    std::string name = "lat-" + std::to_string(p);
    {
      std::lock_guard<std::mutex> l(mu);
      created[name] = Clock::now();
    }
    (void)env.client->Create(api::DevicePools(), "", env.Pool(name, {{"bench", "yes"}}));
  }
  bool done = Eventually([&] {
    std::lock_guard<std::mutex> l(mu);
    return static_cast<int>(latency.size()) == pools;
  }, std::chrono::seconds(300));
  stop.request_stop();
  Check(done, "every pool got its DaemonSet");
  std::vector<double> v;
  for (auto& [k, s] : latency) v.push_back(s);
  std::sort(v.begin(), v.end());
  auto pct = [&](double q) { return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]; };
  std::printf("| pool applied -> DaemonSet created, %d pools | p50 %.0f ms | p99 %.0f ms |\n", pools, pct(0.5) * 1000,
              pct(0.99) * 1000);
}

// The operator's /metrics text, on the port its log names; "" when it names
// none yet.
std::string OperatorMetrics(ChildProcess& op) {
  std::smatch m;
  std::string log = op.Log();
  if (!std::regex_search(log, m, std::regex("listening on port ([0-9]+)"))) return "";
  return hf::testing::Run({"curl", "-sf", "http://127.0.0.1:" + m[1].str() + "/metrics"}).output;
}

// One sample of the operator's /metrics, by its exact name and labels; -1
// when absent.
double OperatorGauge(ChildProcess& op, const std::string& series) {
  std::istringstream in(OperatorMetrics(op));
  for (std::string l; std::getline(in, l);) {
    if (l.rfind(series + " ", 0) == 0) return std::stod(l.substr(series.size() + 1));
  }
  return -1;
}

// Pools created and deleted in rounds. A leak grows RSS by about the same
// amount every round. What the operator must remember for a while grows it
// too: each pool's Events stay in the recorder for the series window (10
// min, at most 4096 series). So after four rounds the benchmark waits out
// that window and runs two more: RSS flat across those shows no leak.
// Each round is measured at rest, 3 s after its last pool is gone: RSS,
// split into anonymous and file-backed pages, and the C library's heap in
// use and free, from the operator's /metrics.
void Churn(int pools, int after) {
  Env env("churn");
  env.CreateNodes(10, 1);
  auto op = env.StartOperator("operator.log");
  Check(Eventually([&] { return op->Log().find("caches synced") != std::string::npos; }), "operator synced");
  struct Series {
    std::string name;
    std::function<double()> read;  // bytes
    std::vector<double> v;
  };
  const int pid = op->pid();
  std::vector<Series> series = {
      {"operator RSS", [&] { return RssKiB(pid, "VmRSS:") * 1024.0; }, {}},
      {"anonymous", [&] { return RssKiB(pid, "RssAnon:") * 1024.0; }, {}},
      {"file-backed", [&] { return RssKiB(pid, "RssFile:") * 1024.0; }, {}},
      {"heap in use", [&] { return OperatorGauge(*op, R"(process_heap_bytes{state="in_use"})"); }, {}},
      {"heap free, held", [&] { return OperatorGauge(*op, R"(process_heap_bytes{state="free"})"); }, {}},
  };
  auto measure = [&] {
    std::this_thread::sleep_for(std::chrono::seconds(3));  // at rest: what stays, not what is in flight
    for (auto& x : series) x.v.push_back(x.read());
  };
  measure();
  auto round = [&](int r) {
    for (int p = 0; p < pools; ++p) {
      (void)env.client->Create(api::DevicePools(), "", env.Pool("churn-" + std::to_string(p), {{"bench", "yes"}}));
    }
    bool created = Eventually(
        [&] {
          kube::ListOptions lo;
          lo.label_selector = "hashfoundry.com/pool";
          auto l = env.client->List(kube::resources::DaemonSets(), env.ns, lo);
          return l.ok() && static_cast<int>(l->items.size()) == pools;
        },
        std::chrono::seconds(300), std::chrono::milliseconds(200));
    Check(created, "round " + std::to_string(r) + ": every pool got its DaemonSet");
    for (int p = 0; p < pools; ++p) (void)env.client->Delete(api::DevicePools(), "", "churn-" + std::to_string(p));
    // These nodes have no kubelet to confirm that the agent pods stopped, so
    // they would stay Terminating (and in the operator's cache) for ever;
    // confirm for it, as the kubelet would.
    auto pods = [&] {
      auto l = env.client->List(kube::resources::Pods(), env.ns, {});
      return l.ok() ? l->items : std::vector<Json>{};
    };
    bool gone = Eventually(
        [&] {
          if (!pods().empty()) {
            env.cluster->Kubectl({"delete", "pods", "--all", "-n", env.ns, "--force", "--grace-period=0", "--wait=false"});
          }
          auto l = env.client->List(api::DevicePools(), "", {});
          return l.ok() && l->items.empty() && env.Labelled("devicepool.hashfoundry.com/churn-0") == 0 &&
                 pods().empty();
        },
        std::chrono::seconds(300), std::chrono::milliseconds(500));
    Check(gone, "round " + std::to_string(r) + ": every pool deleted, its labels and agent pods gone");
    measure();
  };
  for (int r = 1; r <= 4; ++r) round(r);
  const auto window = std::chrono::minutes(10) + std::chrono::seconds(30);
  if (!smoke) {
    std::this_thread::sleep_for(window);  // what is measured: the series window passing
    for (int r = 5; r < 5 + after; ++r) round(r);
  }
  auto mib = [](double bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f MiB", bytes / 1048576.0);
    return std::string(buf);
  };
  for (const auto& x : series) {
    std::string row = "| " + x.name + (&x == &series[0] ? ", " + std::to_string(pools) +
                                                              " pools created and deleted per round"
                                                        : "") +
                      " | start " + mib(x.v[0]);
    for (size_t r = 1; r < x.v.size(); ++r) row += " | round " + std::to_string(r) + " " + mib(x.v[r]);
    std::printf("%s |\n", row.c_str());
  }
  auto per_pool = [&](const Series& x, size_t from, size_t to) {
    return (x.v[to] - x.v[from]) / (pools * static_cast<double>(to - from));
  };
  std::printf("\nRounds 2-4 (within the series window): RSS %+.0f, heap in use %+.0f bytes per pool created and "
              "deleted.\n",
              per_pool(series[0], 1, 4), per_pool(series[3], 1, 4));
  const size_t last = series[0].v.size() - 1;
  if (last >= 6) {
    std::printf("Rounds 5-%zu (after it): RSS %+.0f, heap in use %+.0f bytes per pool created and deleted.\n", last,
                per_pool(series[0], 4, last), per_pool(series[3], 4, last));
  }
  if (last >= 8) {
    // Whether it levels off: the last half of the rounds after the window.
    const size_t from = 4 + (last - 4) / 2;
    std::printf("Rounds %zu-%zu: RSS %+.0f, anonymous %+.0f, heap in use %+.0f bytes per pool created and deleted.\n",
                from + 1, last, per_pool(series[0], from, last), per_pool(series[1], from, last),
                per_pool(series[3], from, last));
  }
  Check(series[0].v[0] > 0, "operator RSS read");
  Check(series[3].v[0] > 0, "operator heap read from its /metrics");
}

// Requests by verb from the operator's own client metrics.
std::map<std::string, double> OperatorRequests(ChildProcess& op) {
  std::map<std::string, double> out;
  std::regex line(R"re(^rest_client_requests_total\{(.*)\} ([0-9.e+]+)$)re");
  std::regex verb(R"re(verb="([a-z]+)")re"), resource(R"re(resource="([^"]*)")re");
  std::istringstream in(OperatorMetrics(op));
  for (std::string l; std::getline(in, l);) {
    std::smatch lm, vm, rm;
    if (!std::regex_match(l, lm, line)) continue;
    std::string labels = lm[1];
    if (!std::regex_search(labels, vm, verb)) continue;
    std::regex_search(labels, rm, resource);
    // "verb resource", so a write can be traced to what it wrote.
    out[vm[1].str() + " " + (rm.size() > 1 ? rm[1].str() : "")] += std::stod(lm[2]);
  }
  return out;
}

void Steady(int pools, int seconds) {
  Env env("steady");
  // The Prometheus Operator's CRDs served and monitoring on (the default):
  // each pool also owns a ServiceMonitor and a PrometheusRule.
  auto k = env.cluster->Kubectl(
      {"apply", "--server-side", "-f",
       std::string(HF_SOURCE_DIR) + "/tests/operator/integration/testdata/monitoring-crds.yaml"});
  Check(k.exit_code == 0, "apply the monitoring CRDs: " + k.output);
  k = env.cluster->Kubectl({"wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com",
                            "crd/prometheusrules.monitoring.coreos.com", "--timeout=60s"});
  Check(k.exit_code == 0, "monitoring CRDs established: " + k.output);
  env.CreateNodes(20, pools);
  // These nodes have no kubelet: about 40 s after they appear the node
  // lifecycle controller taints them, which changes the DaemonSets' status
  // and so, once, each pool's. Measure after that, not across it.
  Check(Eventually([&] {
    auto nodes = env.client->List(kube::resources::Nodes(), "");
    if (!nodes.ok()) return false;
    for (const auto& n : nodes->items) {
      if (!n.contains("spec") || !n["spec"].contains("taints")) return false;
    }
    return true;
  }, std::chrono::seconds(180), std::chrono::seconds(1)), "node lifecycle settled");
  // Log at info: the operator's port is read from its log.
  auto op = ChildProcess::Start({HF_OPERATOR_BIN, "--kubeconfig=" + env.cluster->kubeconfig(), "--namespace=" + env.ns,
                                 "--http-address=127.0.0.1:0"},
                                env.cluster->dir() + "/operator.log");
  for (int p = 0; p < pools; ++p) {
    Json pool = env.Pool("idle-" + std::to_string(p), {{"group", std::to_string(p)}});
    pool["spec"].erase("monitoring");
    (void)env.client->Create(api::DevicePools(), "", pool);
  }
  // Settled when the request counts stop moving for six seconds: longer
  // than the operator's one delayed look (5 s) after it sees the
  // monitoring CRDs.
  auto settle = [&](const std::string& what) {
    std::map<std::string, double> prev;
    Check(Eventually([&] {
      auto now = OperatorRequests(*op);
      bool same = !now.empty() && now == prev;
      prev = now;
      return same;
    }, std::chrono::seconds(120), std::chrono::seconds(6)), what);
  };
  settle("operator settled");
  auto monitors = env.client->List({"monitoring.coreos.com", "v1", "servicemonitors", true}, env.ns);
  Check(monitors.ok() && monitors->items.size() == static_cast<size_t>(pools),
        "a ServiceMonitor for each pool");
  auto before = OperatorRequests(*op);
  auto end = Clock::now() + std::chrono::seconds(seconds);
  // The window is what is measured; nothing is awaited.
  Eventually([&] { return Clock::now() >= end; }, std::chrono::seconds(seconds + 1), std::chrono::milliseconds(500));
  auto after = OperatorRequests(*op);
  double writes = 0, reads = 0, watches = 0;
  std::string written, read;
  for (auto& [key, n] : after) {
    double d = n - before[key];
    std::string verb = key.substr(0, key.find(' '));
    if (verb == "watch") {
      watches += d;
    } else if (verb == "get" || verb == "list") {
      reads += d;
      if (d > 0) read += " " + key + " x" + std::to_string(static_cast<int>(d)) + ";";
    } else {
      writes += d;
      if (d > 0) written += " " + key + " x" + std::to_string(static_cast<int>(d)) + ";";
    }
  }
  double per_min = 60.0 / seconds;
  std::printf("| steady state, %d idle pools, %d s | writes %.0f/min | reads %.0f/min | watch (re)opens %.0f/min |\n",
              pools, seconds, writes * per_min, reads * per_min, watches * per_min);
  if (!written.empty()) std::printf("\nWrites seen:%s\n", written.c_str());
  if (!read.empty()) std::printf("\nReads seen:%s\n", read.c_str());
  Check(writes == 0, "no writes in the steady state:" + written);
  Check(reads == 0, "no reads in the steady state:" + read);

  // Every pool touched (an annotation: one reconcile each, nothing to
  // change): the children, monitoring ones included, are compared with the
  // caches, so the reconciles read nothing from the API server.
  before = OperatorRequests(*op);
  for (int p = 0; p < pools; ++p) {
    (void)env.client->Patch(api::DevicePools(), "", "idle-" + std::to_string(p), kube::PatchType::kMerge,
                            R"({"metadata":{"annotations":{"bench/touch":"1"}}})");
  }
  settle("operator settled after the touch");
  after = OperatorRequests(*op);
  double touch_reads = 0, touch_writes = 0, discovery_reads = 0;
  std::string touched;
  for (auto& [key, n] : after) {
    double d = n - before[key];
    std::string verb = key.substr(0, key.find(' '));
    if (d > 0 && verb != "watch") touched += " " + key + " x" + std::to_string(static_cast<int>(d)) + ";";
    if (key == "get raw") {
      discovery_reads += d;  // is monitoring.coreos.com served? (cached for 2 s)
    } else if (verb == "get" || verb == "list") {
      touch_reads += d;
    } else if (verb != "watch") {
      touch_writes += d;
    }
  }
  std::printf("| %d pools touched, one reconcile each | writes %.0f | reads of objects %.0f | discovery reads %.0f |\n",
              pools, touch_writes, touch_reads, discovery_reads);
  if (!touched.empty()) std::printf("\nRequests seen:%s\n", touched.c_str());
  Check(touch_reads == 0, "reconciles of unchanged pools read from the API server:" + touched);
}

std::string Machine() {
  auto cpu = hf::testing::Run({"sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2; nproc; free -g | awk '/Mem/{print $2}'"});
  std::string s = cpu.output;
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

}  // namespace
}  // namespace hf::bench

int main(int argc, char** argv) {
  using namespace hf::bench;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "--smoke") {
    smoke = true;
    args.erase(args.begin());
  }
  for (auto it = args.begin(); it != args.end();) {
    if (it->rfind("--", 0) == 0) {
      operator_flags.push_back(*it);
      it = args.erase(it);
    } else {
      ++it;
    }
  }
  if (args.empty()) {
    std::fprintf(stderr,
                 "usage: operator_bench [--smoke] label N | memory N POOLS | latency POOLS | steady POOLS | churn POOLS"
                 " [ROUNDS]"
                 " [--operator-flag=value...]\n");
    return 2;
  }
  auto num = [&](size_t i, int def) { return args.size() > i ? std::stoi(args[i]) : def; };
  std::printf("<!-- %s; cpu/cores/GiB: %s -->\n", args[0].c_str(), Machine().c_str());
  if (args[0] == "label") {
    Label(num(1, smoke ? 50 : 1000));
  } else if (args[0] == "memory") {
    Memory(num(1, smoke ? 100 : 5000), num(2, smoke ? 5 : 50));
  } else if (args[0] == "latency") {
    Latency(num(1, smoke ? 10 : 200));
  } else if (args[0] == "steady") {
    Steady(num(1, smoke ? 5 : 50), smoke ? 10 : 60);
  } else if (args[0] == "churn") {
    Churn(num(1, smoke ? 5 : 500), num(2, 2));
  } else {
    std::fprintf(stderr, "unknown benchmark %s\n", args[0].c_str());
    return 2;
  }
  std::string flags;
  for (const auto& f : operator_flags) flags += " " + f;
  std::printf("\nThe operator ran with %s.\n", flags.empty() ? "its defaults" : ("its defaults and" + flags).c_str());
  return failures == 0 ? 0 : 1;
}
