// DRA benchmark on simulated nodes, printing one Markdown result block for
// bench/RESULTS.md:
//
//   dra_bench [--smoke] --fakedriver PATH [N]
//
// The chart with helm, devicepool-operator as a local process under the
// chart's ServiceAccount and kNodes sim-kubelets (tests/cluster), each running
// the kubelet's own device manager, DRA manager and plugin manager, on a
// private control plane, as rollout_bench does. On the same nodes:
//
//   - pool bench-dp, allocationAPI DevicePlugin (hashfoundry.com/bench-dp),
//   - pool bench-dra, allocationAPI DRA (driver bench-dra.devicepool.hashfoundry.com),
//   - the peer: tests/cluster's fakedriver (sim-kubelet's testdata), a DRA
//     driver built on k8s.io/dynamic-resource-allocation/kubeletplugin, the
//     helper kubernetes-sigs/dra-example-driver is built on (the Go module
//     proxy here does not serve the example driver itself), as a DaemonSet
//     with a DeviceClass of its own.
//
// N pods go each way, in rounds of one pod per node (pinned by a node
// selector, so the scheduler still allocates their claims): a pod asking for
// hashfoundry.com/bench-dp: 1, a pod with a claim from a template of the
// pool's DeviceClass, a pod with a claim of the fakedriver's class. Measured:
//
//   - created -> Running per pod (the create call's start to the watch event
//     that shows phase Running, timed on arrival), and its steps: the claim
//     made from its template seen, allocated, the pod bound, from pod and
//     ResourceClaim watches;
//   - each NodePrepareResources call as the kubelet's DRA client timed it: the
//     kubelet's dra_grpc_operations_duration_seconds histogram (its buckets
//     start at 0.1 s, too coarse for a percentile), read from each
//     sim-kubelet's /metrics before and after every round; one call per node
//     per round, so the difference of _sum is that call's duration; the same
//     for the DRA manager's PrepareResources around it
//     (dra_operations_duration_seconds);
//   - RSS (VmRSS, RssAnon) of each node's agent of either pool and of the
//     fakedriver, idle and with a path's pods running; CPU (utime + stime,
//     /proc) idle over 60 s, and over the phase of each one's own pods.
//
// A path's pods stay until its last one is Running (so each driver has
// ceil(N / kNodes) devices a node), and are deleted before the next path.
//
// --smoke checks correctness only (exit 1 when a check fails): every pod
// Running, one NodePrepareResources per node per round for each driver.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "api/names.h"
#include "kube/rest/client.h"
#include "tests/testing/cluster.h"

namespace hf::bench {
namespace {

namespace fs = std::filesystem;
using hf::testing::At;
using hf::testing::ChildProcess;
using hf::testing::Eventually;
using hf::testing::LocalCluster;
using hf::testing::ProcessTree;
using hf::testing::StringAt;
using kube::Json;
using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

constexpr int kNodes = 2;
constexpr char kNodeLabel[] = "hashfoundry.com/custom-device";
constexpr char kDpPool[] = "bench-dp";
constexpr char kDpResource[] = "hashfoundry.com/bench-dp";
constexpr char kDraPool[] = "bench-dra";
constexpr char kDraResource[] = "hashfoundry.com/bench-dra";
constexpr char kDraDriver[] = "bench-dra.devicepool.hashfoundry.com";
constexpr char kFakeDriver[] = "sim.example.com";
constexpr char kFakeImage[] = "example.com/fakedriver:bench";
constexpr char kFakeNamespace[] = "fakedriver";
constexpr char kPodNamespace[] = "bench-pods";
constexpr char kPrepareMethod[] = "NodePrepareResources";
const kube::GroupVersionResource kResourceSlices{"resource.k8s.io", "v1", "resourceslices", false};
const kube::GroupVersionResource kResourceClaims{"resource.k8s.io", "v1", "resourceclaims", true};
const kube::GroupVersionResource kClaimTemplates{"resource.k8s.io", "v1", "resourceclaimtemplates", true};

bool smoke = false;
int failures = 0;
std::string fakedriver_bin;

void Check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "CHECK FAILED: %s\n", what.c_str());
    ++failures;
  }
}

void Progress(const std::string& what) { std::fprintf(stderr, "dra_bench: %s\n", what.c_str()); }

double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string Source(const std::string& rel) { return std::string(HF_SOURCE_DIR) + "/" + rel; }

std::string Tail(const std::string& path, size_t lines = 30) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string l; std::getline(in, l);) all.push_back(l);
  std::ostringstream out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out << all[i] << "\n";
  return out.str();
}

std::string ImageDir(const std::string& bin_dir, std::string image) {
  for (char& c : image) {
    if (c == '/' || c == ':' || c == '@') c = '_';
  }
  return bin_dir + "/by-image/" + image;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct Usage {
  double rss_kib = 0, anon_kib = 0, cpu_ms = 0;
};

// VmRSS, RssAnon and utime + stime of one process.
Usage UsageOf(int pid) {
  Usage u;
  std::istringstream status(ReadFile("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) u.rss_kib = std::atof(line.c_str() + 6);
    if (line.rfind("RssAnon:", 0) == 0) u.anon_kib = std::atof(line.c_str() + 8);
  }
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  if (close != std::string::npos) {
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    // After the command: state is field 3; utime and stime are 14 and 15.
    std::vector<std::string> f;
    while (rest >> field) f.push_back(field);
    if (f.size() > 12) {
      double ticks = std::atof(f[11].c_str()) + std::atof(f[12].c_str());
      u.cpu_ms = ticks * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
    }
  }
  return u;
}

// Nearest rank.
double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

// Lists and then watches one kind of object until `stop` (rollout_bench's).
void Follow(kube::Client& client, const kube::GroupVersionResource& gvr, const std::string& ns,
            const std::function<void(kube::WatchEventType, const Json&, Clock::time_point)>& on_event,
            std::stop_token stop) {
  std::mutex mu;
  std::condition_variable_any backoff;
  while (!stop.stop_requested()) {
    kube::ListOptions lo;
    std::string rv;
    kube::Status listed = client.ListEach(
        gvr, ns, lo, [&](Json&& obj) { on_event(kube::WatchEventType::kAdded, obj, Clock::now()); }, &rv);
    bool expired = false;
    while (listed.ok() && !expired && !stop.stop_requested()) {
      kube::WatchOptions wo;
      wo.resource_version = rv;
      kube::Status watched = client.Watch(
          gvr, ns, wo,
          [&](kube::WatchEvent&& ev) {
            auto at = Clock::now();
            if (ev.type == kube::WatchEventType::kError) {
              expired = true;
              return false;
            }
            rv = StringAt(ev.object, {"metadata", "resourceVersion"});
            if (ev.type != kube::WatchEventType::kBookmark) on_event(ev.type, ev.object, at);
            return true;
          },
          stop);
      if (!watched.ok()) expired = true;
    }
    std::unique_lock<std::mutex> l(mu);
    backoff.wait_for(l, stop, std::chrono::milliseconds(listed.ok() ? 0 : 200), [] { return false; });
  }
}

// When each bench pod was first seen bound to a node and Running, and when
// its claim (from a template, owned by the pod) was first seen and first
// seen allocated.
class RunningPods {
 public:
  void OnPod(kube::WatchEventType type, const Json& pod, Clock::time_point at) {
    if (type == kube::WatchEventType::kDeleted) return;
    const std::string name = StringAt(pod, {"metadata", "name"});
    std::lock_guard<std::mutex> l(mu_);
    if (!StringAt(pod, {"spec", "nodeName"}).empty()) bound_.emplace(name, at);
    if (StringAt(pod, {"status", "phase"}) != "Running") return;
    running_.emplace(name, at);
    cv_.notify_all();
  }

  void OnClaim(kube::WatchEventType type, const Json& claim, Clock::time_point at) {
    if (type == kube::WatchEventType::kDeleted) return;
    Json owners = At(claim, {"metadata", "ownerReferences"});
    if (!owners.is_array() || owners.empty()) return;
    const std::string pod = owners[0].value("name", "");
    std::lock_guard<std::mutex> l(mu_);
    claimed_.emplace(pod, at);
    if (!At(claim, {"status", "allocation"}).is_null()) allocated_.emplace(pod, at);
  }

  // The times `names` were seen Running; false if not all within `timeout`.
  bool Wait(const std::vector<std::string>& names, Clock::duration timeout,
            std::map<std::string, Clock::time_point>* at) {
    std::unique_lock<std::mutex> l(mu_);
    bool ok = cv_.wait_for(l, timeout, [&] {
      for (const auto& n : names) {
        if (!running_.contains(n)) return false;
      }
      return true;
    });
    for (const auto& n : names) {
      auto it = running_.find(n);
      if (it != running_.end()) (*at)[n] = it->second;
    }
    return ok;
  }

  // When `pod`'s claim was first seen, allocated, and the pod bound.
  std::optional<Clock::time_point> Claimed(const std::string& pod) { return Find(claimed_, pod); }
  std::optional<Clock::time_point> Allocated(const std::string& pod) { return Find(allocated_, pod); }
  std::optional<Clock::time_point> Bound(const std::string& pod) { return Find(bound_, pod); }

 private:
  std::optional<Clock::time_point> Find(const std::map<std::string, Clock::time_point>& m, const std::string& pod) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = m.find(pod);
    if (it == m.end()) return std::nullopt;
    return it->second;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Clock::time_point> running_, bound_, claimed_, allocated_;
};

// _sum and _count of the kubelet's DRA gRPC histogram for one driver's
// successful NodePrepareResources calls.
// Also of the DRA manager's own PrepareResources histogram (all of a pod's
// claims, across drivers: the claims fetched and checked, the drivers
// called, the kubelet's checkpoint written).
struct Prepared {
  double sum = 0;
  long count = 0;
  double manager_sum = 0;
  long manager_count = 0;
};

double LastNumber(const std::string& line) {
  auto sp = line.rfind(' ');
  return sp == std::string::npos ? 0 : std::atof(line.c_str() + sp + 1);
}

Prepared ParsePrepared(const std::string& metrics, const std::string& driver) {
  Prepared p;
  const std::string d = "driver_name=\"" + driver + "\"";
  std::istringstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("dra_operations_duration_seconds_", 0) == 0 &&
        line.find("operation_name=\"PrepareResources\"") != std::string::npos &&
        line.find("is_error=\"false\"") != std::string::npos) {
      if (line.rfind("dra_operations_duration_seconds_sum{", 0) == 0) p.manager_sum += LastNumber(line);
      if (line.rfind("dra_operations_duration_seconds_count{", 0) == 0) {
        p.manager_count += static_cast<long>(LastNumber(line));
      }
    }
    if (line.rfind("dra_grpc_operations_duration_seconds_", 0) != 0) continue;
    if (line.find(d) == std::string::npos || line.find(kPrepareMethod) == std::string::npos ||
        line.find("grpc_status_code=\"OK\"") == std::string::npos) {
      continue;
    }
    if (line.rfind("dra_grpc_operations_duration_seconds_sum{", 0) == 0) p.sum += LastNumber(line);
    if (line.rfind("dra_grpc_operations_duration_seconds_count{", 0) == 0) p.count += static_cast<long>(LastNumber(line));
  }
  return p;
}

enum class Path { kDevicePlugin, kAgentDra, kFakeDriver };

const char* PathName(Path p) {
  switch (p) {
    case Path::kDevicePlugin:
      return "device plugin (agent)";
    case Path::kAgentDra:
      return "DRA (agent)";
    case Path::kFakeDriver:
      return "DRA (fakedriver)";
  }
  return "";
}

struct PathResult {
  std::vector<double> running_ms;   // created -> Running, per pod
  std::vector<double> prepare_ms;   // NodePrepareResources, per call
  // The steps, per pod: created -> its claim seen (DRA only); the claim (or,
  // without one, the pod's creation) -> the pod bound to its node;
  // allocation seen -> bound (DRA only); bound -> Running.
  std::vector<double> to_claim_ms, to_bound_ms, allocated_to_bound_ms, bound_to_running_ms;
  std::vector<double> manager_ms;   // the DRA manager's PrepareResources, per pod
  double prepare_sum_s = 0;         // the histogram's, over the phase
  long prepare_count = 0;
  std::map<std::string, Usage> before, after;  // per node, the serving process
};

class Bench {
 public:
  struct Node {
    std::string name;
    std::unique_ptr<ChildProcess> proc;
    int port = 0;  // the kubelet endpoint: plain HTTP /metrics too
  };

  Bench(int devices_per_node) : devices_(devices_per_node) {
    std::string dir = fs::temp_directory_path() / hf::testing::UniqueName("hf-bench-dra");
    cluster_ = LocalCluster::Start(dir);
    client_ = cluster_->AdminClient();
    bin_ = cluster_->Env("HF_CLUSTER_BIN");
    release_ = "dra-bench";
    work_ = cluster_->dir() + "/" + release_;
    images_ = work_ + "/images";
    fs::create_directories(images_);
    // HF_AGENT_BIN overrides the agent, as for bench/run's agent benchmarks.
    const char* agent = std::getenv("HF_AGENT_BIN");
    fs::create_symlink(agent != nullptr && *agent != '\0' ? agent : HF_AGENT_BIN, images_ + "/devicepool-agent");
    fs::create_directories(ImageDir(images_, kFakeImage));
    fs::create_symlink(fakedriver_bin, ImageDir(images_, kFakeImage) + "/fakedriver");

    auto k = cluster_->Kubectl({"apply", "--server-side", "-f", Source("crds/")});
    Check(k.exit_code == 0, "apply CRDs: " + k.output);
    Check(Eventually(
              [&] {
                return cluster_->Kubectl({"wait", "--for=condition=Established", "crd/devicepools.hashfoundry.com",
                                          "crd/devicepoolnodes.hashfoundry.com", "--timeout=30s"})
                           .exit_code == 0;
              },
              seconds(60), std::chrono::milliseconds(200)),
          "CRDs established");
    auto h = hf::testing::Run({bin_ + "/helm", "install", release_, Source("charts/hashfoundry-device-operator"),
                               "--namespace", release_, "--create-namespace", "--set", "crds.install=false", "--set",
                               "fullnameOverride=" + release_, "--set", "replicaCount=0", "--kubeconfig",
                               cluster_->kubeconfig()});
    Check(h.exit_code == 0, "helm install: " + h.output);

    watch_ = std::jthread([this](std::stop_token stop) {
      Follow(*client_, kube::resources::Pods(), kPodNamespace,
             [this](auto type, const Json& o, auto at) { running_.OnPod(type, o, at); }, stop);
    });
    claim_watch_ = std::jthread([this](std::stop_token stop) {
      Follow(*client_, kResourceClaims, kPodNamespace,
             [this](auto type, const Json& o, auto at) { running_.OnClaim(type, o, at); }, stop);
    });

    for (int i = 1; i <= kNodes; ++i) StartNode(release_ + "-node-" + std::to_string(i));
    Check(Eventually([&] { return ReadyNodes() == kNodes; }, seconds(120)), "every node Ready");
    for (auto& n : nodes_) {
      auto node = client_->Get(kube::resources::Nodes(), "", n.name);
      Json port = node.ok() ? At(*node, {"status", "daemonEndpoints", "kubeletEndpoint", "Port"}) : Json();
      if (port.is_number_integer()) n.port = port.get<int>();
      Check(n.port > 0, "kubelet endpoint of " + n.name);
    }
    StartOperator();
  }

  ~Bench() {
    if (failures > 0) std::fprintf(stderr, "%s", Logs().c_str());
    // Pods with claims before the pools and the driver: the kubelet confirms
    // a pod's deletion only after its claims were unprepared.
    (void)client_->Delete(kube::resources::Namespaces(), "", kPodNamespace);
    Check(Eventually(
              [&] {
                auto r = client_->Get(kube::resources::Namespaces(), "", kPodNamespace);
                return !r.ok() && r.status().reason() == kube::Reason::kNotFound;
              },
              seconds(300)),
          "bench pods deleted");
    for (const char* pool : {kDpPool, kDraPool}) (void)client_->Delete(api::DevicePools(), "", pool);
    Check(Eventually(
              [&] {
                for (const char* pool : {kDpPool, kDraPool}) {
                  auto r = client_->Get(api::DevicePools(), "", pool);
                  if (r.ok() || r.status().reason() != kube::Reason::kNotFound) return false;
                }
                return true;
              },
              seconds(120)),
          "pools deleted");
    if (op_) {
      op_->Signal(SIGTERM);
      Check(op_->Wait() == 0, "operator stopped cleanly");
    }
    for (auto& n : nodes_) {
      n.proc->Signal(SIGTERM);
      Check(n.proc->Wait(seconds(60)) == 0, "node stopped cleanly: " + n.proc->log_path());
    }
    watch_ = {};
    claim_watch_ = {};
    hf::testing::Run(
        {bin_ + "/helm", "uninstall", release_, "--namespace", release_, "--kubeconfig", cluster_->kubeconfig()});
  }

  Bench(const Bench&) = delete;
  Bench& operator=(const Bench&) = delete;

  // Both pools, the fakedriver and the templates; until every node
  // advertises each one's devices.
  bool Setup() {
    for (auto [pool, resource, api_name] : {std::tuple{kDpPool, kDpResource, "DevicePlugin"},
                                            std::tuple{kDraPool, kDraResource, "DRA"}}) {
      Json p = {{"apiVersion", "hashfoundry.com/v1alpha1"},
                {"kind", "DevicePool"},
                {"metadata", {{"name", pool}}},
                {"spec",
                 {{"resourceName", resource},
                  {"allocationAPI", api_name},
                  {"nodeSelector", {{"matchLabels", {{kNodeLabel, "enabled"}}}}},
                  {"discovery", {{"simulated", {{"count", devices_}, {"prefix", std::string(pool) + "-device"}}}}},
                  {"monitoring",
                   {{"serviceMonitor", {{"enabled", false}}}, {"prometheusRule", {{"enabled", false}}}}}}}};
      auto r = client_->Create(api::DevicePools(), "", p);
      Check(r.ok(), std::string("create pool ") + pool + ": " + (r.ok() ? "" : r.status().ToString()));
    }
    const std::string manifest = work_ + "/fakedriver.yaml";
    std::ofstream(manifest) << FakeDriverManifest();
    auto k = cluster_->Kubectl({"apply", "-f", manifest});
    Check(k.exit_code == 0, "apply the fakedriver: " + k.output);
    k = cluster_->Kubectl({"create", "namespace", kPodNamespace});
    Check(k.exit_code == 0, "namespace: " + k.output);
    for (auto [name, cls] : {std::pair{"agent-dra", kDraDriver}, std::pair{"fakedriver", kFakeDriver}}) {
      Json t = {{"apiVersion", "resource.k8s.io/v1"},
                {"kind", "ResourceClaimTemplate"},
                {"metadata", {{"name", name}}},
                {"spec",
                 {{"spec",
                   {{"devices",
                     {{"requests", Json::array({{{"name", "dev"}, {"exactly", {{"deviceClassName", cls}}}}})}}}}}}}};
      auto r = client_->Create(kClaimTemplates, kPodNamespace, t);
      Check(r.ok(), std::string("template ") + name + ": " + (r.ok() ? "" : r.status().ToString()));
    }
    bool ok = Eventually(
        [&] {
          for (const auto& n : nodes_) {
            auto node = client_->Get(kube::resources::Nodes(), "", n.name);
            if (!node.ok() || StringAt(*node, {"status", "allocatable", kDpResource}) != std::to_string(devices_)) {
              return false;
            }
            if (SliceDevices(kDraDriver, n.name) != devices_ || SliceDevices(kFakeDriver, n.name) != devices_) {
              return false;
            }
          }
          return true;
        },
        seconds(240), std::chrono::milliseconds(500));
    if (!ok) {
      std::fprintf(stderr, "not settled:\n%s\n%s\n",
                   cluster_->Kubectl({"get", "nodes,resourceslices,pods", "-A", "-o", "wide"}).output.c_str(),
                   cluster_->Kubectl({"get", "devicepools", "-o", "yaml"}).output.c_str());
      return false;
    }
    for (const char* pool : {kDpPool, kDraPool}) {
      auto w = cluster_->Kubectl(
          {"wait", "--for=condition=Ready", std::string("devicepool/") + pool, "--timeout=120s"});
      Check(w.exit_code == 0, std::string("pool Ready: ") + pool + " " + w.output);
    }
    return failures == 0;
  }

  // The process serving `path` on each node.
  std::map<std::string, int> Servers(Path path) {
    std::map<std::string, int> out;
    for (const auto& n : nodes_) {
      for (int pid : ProcessTree(n.proc->pid())) {
        std::string cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
        bool match = false;
        if (path == Path::kFakeDriver) {
          std::string argv0 = cmdline.substr(0, cmdline.find('\0'));
          match = argv0.size() >= 10 && argv0.compare(argv0.size() - 10, 10, "fakedriver") == 0;
        } else {
          std::string want = std::string("--pool=") + (path == Path::kDevicePlugin ? kDpPool : kDraPool);
          want.push_back('\0');
          match = cmdline.find(want) != std::string::npos;
        }
        if (match) out[n.name] = pid;
      }
    }
    return out;
  }

  std::map<std::string, Usage> Sample(Path path) {
    std::map<std::string, Usage> out;
    for (const auto& [node, pid] : Servers(path)) out[node] = UsageOf(pid);
    return out;
  }

  // N pods of `path`, a round of one per node at a time.
  PathResult RunPath(Path path, int n) {
    Progress(std::string(PathName(path)) + ": " + std::to_string(n) + " pods");
    PathResult res;
    res.before = Sample(path);
    const std::string driver = path == Path::kAgentDra ? kDraDriver : kFakeDriver;
    const std::string prefix = path == Path::kDevicePlugin ? "dp-" : path == Path::kAgentDra ? "dra-" : "fake-";
    for (int first = 0; first < n; first += kNodes) {
      std::vector<Prepared> before(nodes_.size());
      if (path != Path::kDevicePlugin) {
        for (size_t i = 0; i < nodes_.size(); ++i) before[i] = ParsePrepared(Metrics(nodes_[i]), driver);
      }
      std::vector<std::string> names;
      std::map<std::string, Clock::time_point> created;
      for (size_t i = 0; i < nodes_.size() && first + static_cast<int>(i) < n; ++i) {
        const std::string name = prefix + std::to_string(first + static_cast<int>(i));
        names.push_back(name);
        created[name] = Clock::now();
        auto r = client_->Create(kube::resources::Pods(), kPodNamespace, PodSpec(path, name, nodes_[i].name));
        Check(r.ok(), "create pod " + name + ": " + (r.ok() ? "" : r.status().ToString()));
      }
      std::map<std::string, Clock::time_point> running;
      bool ok = running_.Wait(names, seconds(120), &running);
      Check(ok, "pods Running: " + names.front() + "...");
      if (!ok) {
        std::fprintf(stderr, "%s\n",
                     cluster_->Kubectl({"get", "pods,resourceclaims", "-n", kPodNamespace, "-o", "wide"}).output.c_str());
        return res;
      }
      for (const auto& [name, at] : running) {
        res.running_ms.push_back(Millis(at - created[name]));
        auto bound = running_.Bound(name);
        if (bound) res.bound_to_running_ms.push_back(Millis(at - *bound));
        if (path == Path::kDevicePlugin) {
          if (bound) res.to_bound_ms.push_back(Millis(*bound - created[name]));
          continue;
        }
        auto claimed = running_.Claimed(name);
        auto allocated = running_.Allocated(name);
        if (claimed) res.to_claim_ms.push_back(Millis(*claimed - created[name]));
        if (claimed && bound) res.to_bound_ms.push_back(Millis(*bound - *claimed));
        if (allocated && bound) res.allocated_to_bound_ms.push_back(Millis(*bound - *allocated));
      }
      if (path == Path::kDevicePlugin) continue;
      for (size_t i = 0; i < names.size(); ++i) {
        Prepared after = ParsePrepared(Metrics(nodes_[i]), driver);
        long calls = after.count - before[i].count;
        double sum = after.sum - before[i].sum;
        Check(calls == 1, "one NodePrepareResources for " + names[i] + " on " + nodes_[i].name + ", saw " +
                              std::to_string(calls));
        if (calls >= 1) {
          for (long c = 0; c < calls; ++c) res.prepare_ms.push_back(sum * 1000 / static_cast<double>(calls));
        }
        res.prepare_sum_s += sum;
        res.prepare_count += calls;
        if (after.manager_count - before[i].manager_count == 1) {
          res.manager_ms.push_back((after.manager_sum - before[i].manager_sum) * 1000);
        }
      }
    }
    res.after = Sample(path);
    // The next path starts from the same nodes: no pods of this one.
    for (int i = 0; i < n; ++i) (void)client_->Delete(kube::resources::Pods(), kPodNamespace, prefix + std::to_string(i));
    bool gone = Eventually(
        [&] {
          auto page = client_->List(kube::resources::Pods(), kPodNamespace, {});
          return page.ok() && page->items.empty();
        },
        seconds(300), std::chrono::milliseconds(500));
    Check(gone, std::string("the pods of ") + PathName(path) + " deleted");
    return res;
  }

  std::string Logs() {
    std::ostringstream out;
    for (const auto& n : nodes_) out << "--- " << n.proc->log_path() << " ---\n" << Tail(n.proc->log_path(), 15);
    if (op_) out << "--- " << op_->log_path() << " ---\n" << Tail(op_->log_path(), 30);
    return out.str();
  }

 private:
  std::string Metrics(const Node& n) {
    auto r = hf::testing::Run({"curl", "-sS", "--max-time", "10", "http://127.0.0.1:" + std::to_string(n.port) + "/metrics"});
    Check(r.exit_code == 0, "metrics of " + n.name + ": " + r.output.substr(0, 200));
    return r.output;
  }

  int SliceDevices(const std::string& driver, const std::string& node) {
    auto page = client_->List(kResourceSlices, "", {});
    if (!page.ok()) return -1;
    int n = 0;
    for (const auto& s : page->items) {
      if (StringAt(s, {"spec", "driver"}) == driver && StringAt(s, {"spec", "nodeName"}) == node) {
        n += static_cast<int>(At(s, {"spec", "devices"}).size());
      }
    }
    return n;
  }

  Json PodSpec(Path path, const std::string& name, const std::string& node) {
    Json container = {{"name", "app"}, {"image", "busybox:1.36"}, {"command", {"sleep", "3600"}}};
    Json spec = {{"nodeSelector", {{"kubernetes.io/hostname", node}}}};
    if (path == Path::kDevicePlugin) {
      container["resources"] = {{"limits", {{kDpResource, 1}}}};
    } else {
      container["resources"] = {{"claims", Json::array({{{"name", "dev"}}})}};
      spec["resourceClaims"] = Json::array(
          {{{"name", "dev"}, {"resourceClaimTemplateName", path == Path::kAgentDra ? "agent-dra" : "fakedriver"}}});
    }
    spec["containers"] = Json::array({container});
    return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", name}}}, {"spec", spec}};
  }

  // What TestSimKubeletDRA deploys (tests/cluster/cmd/sim-kubelet/dra_test.go),
  // without the events file, and a DeviceClass for its devices.
  std::string FakeDriverManifest() {
    std::ostringstream y;
    y << "apiVersion: v1\nkind: Namespace\nmetadata: {name: " << kFakeNamespace << "}\n---\n"
      << "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: driver, namespace: " << kFakeNamespace << "}\n---\n"
      << R"(apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: bench-fakedriver}
rules:
- apiGroups: [resource.k8s.io]
  resources: [resourceslices]
  verbs: [get, list, watch, create, update, patch, delete, deletecollection]
- apiGroups: [resource.k8s.io]
  resources: [resourceclaims]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [nodes]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: bench-fakedriver}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: bench-fakedriver}
subjects:
- {kind: ServiceAccount, name: driver, namespace: )"
      << kFakeNamespace << R"(}
---
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: )"
      << kFakeDriver << R"(}
spec:
  selectors:
  - cel: {expression: 'device.driver == ")"
      << kFakeDriver << R"("'}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: fakedriver, namespace: )"
      << kFakeNamespace << R"(}
spec:
  selector: {matchLabels: {app: fakedriver}}
  template:
    metadata: {labels: {app: fakedriver}}
    spec:
      serviceAccountName: driver
      nodeSelector: {)"
      << kNodeLabel << R"(: enabled}
      containers:
      - name: driver
        image: )"
      << kFakeImage << R"y(
        command: [/opt/bin/fakedriver]
        args: ["--node=$(NODE_NAME)", "--driver-name=)y"
      << kFakeDriver << R"(", "--devices=)" << devices_ << R"(", "--v=1"]
        env:
        - name: NODE_NAME
          valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
        volumeMounts:
        - {name: registry, mountPath: /var/lib/kubelet/plugins_registry}
        - {name: plugins, mountPath: /var/lib/kubelet/plugins}
        - {name: cdi, mountPath: /var/run/cdi}
      volumes:
      - {name: registry, hostPath: {path: /var/lib/kubelet/plugins_registry, type: DirectoryOrCreate}}
      - {name: plugins, hostPath: {path: /var/lib/kubelet/plugins, type: DirectoryOrCreate}}
      - {name: cdi, hostPath: {path: /var/run/cdi, type: DirectoryOrCreate}}
)";
    return y.str();
  }

  void StartNode(const std::string& name) {
    std::string kubeconfig = work_ + "/" + name + ".kubeconfig";
    auto r = hf::testing::Run({bin_ + "/cluster", "node-kubeconfig", cluster_->dir(), name, "--out", kubeconfig});
    Check(r.exit_code == 0, "node-kubeconfig: " + r.output);
    auto p = ChildProcess::Start(
        {bin_ + "/sim-kubelet", "--node-name=" + name, "--root=" + work_ + "/nodes/" + name,
         "--kubeconfig=" + kubeconfig, "--recorder-kubeconfig=" + cluster_->kubeconfig(),
         std::string("--node-labels=") + kNodeLabel + "=enabled", "--image-bin-dir=" + images_,
         "--max-probe-period=1s", "--crash-backoff=1s", "--max-pods=" + std::to_string(std::max(110, devices_ + 20)),
         "--v=1"},
        work_ + "/" + name + ".log");
    Check(p != nullptr, "start sim-kubelet " + name);
    if (p) nodes_.push_back({name, std::move(p), 0});
  }

  void StartOperator() {
    std::string sa = work_ + "/operator.kubeconfig";
    auto k = hf::testing::Run({bin_ + "/cluster", "sa-kubeconfig", cluster_->dir(), "--namespace", release_,
                               "--serviceaccount", release_, "--out", sa});
    Check(k.exit_code == 0, "sa-kubeconfig: " + k.output);
    op_ = ChildProcess::Start({HF_OPERATOR_BIN, "--kubeconfig=" + sa, "--namespace=" + release_,
                               "--agent-cluster-role=" + release_ + "-agent", "--http-address=127.0.0.1:0",
                               "--log-format=text", "--identity=" + release_},
                              work_ + "/operator.log");
    Check(op_ != nullptr, "start the operator");
  }

  int ReadyNodes() {
    int ready = 0;
    for (const auto& n : nodes_) {
      auto node = client_->Get(kube::resources::Nodes(), "", n.name);
      Json conds = node.ok() ? At(*node, {"status", "conditions"}) : Json();
      if (!conds.is_array()) continue;
      for (const auto& c : conds) {
        if (c["type"] == "Ready" && c["status"] == "True") ++ready;
      }
    }
    return ready;
  }

  int devices_;
  std::unique_ptr<LocalCluster> cluster_;
  std::unique_ptr<kube::Client> client_;
  std::string bin_, release_, work_, images_;
  std::vector<Node> nodes_;
  std::unique_ptr<ChildProcess> op_;
  RunningPods running_;
  std::jthread watch_, claim_watch_;  // last: stopped and joined first
};

std::string Ms(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, v < 10 ? "%.2f ms" : "%.0f ms", v);
  return buf;
}

std::string Ratio(double a, double b) {
  if (b <= 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", a / b);
  return buf;
}

// Mean over the nodes of `f` of each node's sample.
double Mean(const std::map<std::string, Usage>& m, double Usage::*f) {
  if (m.empty()) return 0;
  double s = 0;
  for (const auto& [node, u] : m) s += u.*f;
  return s / static_cast<double>(m.size());
}

int Run(int n) {
  const int per_node = (n + kNodes - 1) / kNodes;
  Bench b(per_node);
  if (failures > 0) return 1;
  Progress("two pools and the fakedriver on " + std::to_string(kNodes) + " nodes, " + std::to_string(per_node) +
           " devices each");
  if (!b.Setup()) return 1;
  for (Path p : {Path::kDevicePlugin, Path::kAgentDra, Path::kFakeDriver}) {
    Check(b.Servers(p).size() == static_cast<size_t>(kNodes), std::string("a process per node for ") + PathName(p));
  }
  if (failures > 0) return 1;

  // Idle: everything registered and published, no pod yet.
  const auto idle_window = smoke ? seconds(2) : seconds(60);
  Progress("idle for " + std::to_string(idle_window.count()) + " s");
  std::map<Path, std::map<std::string, Usage>> idle0, idle1;
  for (Path p : {Path::kDevicePlugin, Path::kAgentDra, Path::kFakeDriver}) idle0[p] = b.Sample(p);
  std::this_thread::sleep_for(idle_window);
  for (Path p : {Path::kDevicePlugin, Path::kAgentDra, Path::kFakeDriver}) idle1[p] = b.Sample(p);

  std::map<Path, PathResult> res;
  for (Path p : {Path::kDevicePlugin, Path::kAgentDra, Path::kFakeDriver}) {
    res[p] = b.RunPath(p, n);
    Check(static_cast<int>(res[p].running_ms.size()) == n, std::string("every pod Running: ") + PathName(p));
    if (failures > 0) return 1;
  }
  if (smoke) return failures == 0 ? 0 : 1;

  const PathResult& dp = res[Path::kDevicePlugin];
  const PathResult& dra = res[Path::kAgentDra];
  const PathResult& fake = res[Path::kFakeDriver];
  std::printf("| created -> Running, %d pods each, %d simulated nodes | device plugin (agent) | DRA (agent) | DRA "
              "(fakedriver) | agent DRA / agent device plugin | agent DRA / fakedriver |\n",
              n, kNodes);
  std::printf("|---|---|---|---|---|---|\n");
  for (double q : {0.5, 0.99}) {
    double a = Percentile(dp.running_ms, q), d = Percentile(dra.running_ms, q), f = Percentile(fake.running_ms, q);
    std::printf("| p%.0f | %s | %s | %s | %s | %s |\n", q * 100, Ms(a).c_str(), Ms(d).c_str(), Ms(f).c_str(),
                Ratio(d, a).c_str(), Ratio(d, f).c_str());
  }
  std::printf("\n| steps, p50 / p99 | device plugin (agent) | DRA (agent) | DRA (fakedriver) |\n");
  std::printf("|---|---|---|---|\n");
  auto step = [&](const char* what, std::vector<double> PathResult::*f) {
    auto cell = [&](const PathResult& r) {
      const auto& v = r.*f;
      return v.empty() ? std::string("-") : Ms(Percentile(v, 0.5)) + " / " + Ms(Percentile(v, 0.99));
    };
    std::printf("| %s | %s | %s | %s |\n", what, cell(dp).c_str(), cell(dra).c_str(), cell(fake).c_str());
  };
  step("pod created -> its claim seen (kube-controller-manager)", &PathResult::to_claim_ms);
  step("claim seen (or pod created) -> pod bound (kube-scheduler)", &PathResult::to_bound_ms);
  step("claim allocated -> pod bound", &PathResult::allocated_to_bound_ms);
  step("pod bound -> Running (sim-kubelet: admission, NodePrepareResources, start)", &PathResult::bound_to_running_ms);
  std::printf("\n| NodePrepareResources through the kubelet's DRA client, %d calls each | devicepool-agent | fakedriver "
              "(kubeletplugin) | agent / fakedriver |\n",
              n);
  std::printf("|---|---|---|---|\n");
  for (double q : {0.5, 0.99}) {
    double d = Percentile(dra.prepare_ms, q), f = Percentile(fake.prepare_ms, q);
    std::printf("| p%.0f | %s | %s | %s |\n", q * 100, Ms(d).c_str(), Ms(f).c_str(), Ratio(d, f).c_str());
  }
  double dm = dra.prepare_count ? dra.prepare_sum_s * 1000 / static_cast<double>(dra.prepare_count) : 0;
  double fm = fake.prepare_count ? fake.prepare_sum_s * 1000 / static_cast<double>(fake.prepare_count) : 0;
  std::printf("| mean | %s | %s | %s |\n", Ms(dm).c_str(), Ms(fm).c_str(), Ratio(dm, fm).c_str());
  for (double q : {0.5, 0.99}) {
    double d = Percentile(dra.manager_ms, q), f = Percentile(fake.manager_ms, q);
    std::printf("| the DRA manager's PrepareResources around it (dra_operations_duration_seconds), p%.0f | %s | %s | "
                "%s |\n",
                q * 100, Ms(d).c_str(), Ms(f).c_str(), Ratio(d, f).c_str());
  }

  auto mib = [](double kib) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f MiB", kib / 1024);
    return std::string(buf);
  };
  auto ms = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f ms", v);
    return std::string(buf);
  };
  std::printf("\n| per node (mean of %d) | agent, DevicePlugin pool | agent, DRA pool | fakedriver | DRA / "
              "DevicePlugin | DRA / fakedriver |\n",
              kNodes);
  std::printf("|---|---|---|---|---|---|\n");
  auto row = [&](const char* what, double a, double d, double f, const std::function<std::string(double)>& fmt) {
    std::printf("| %s | %s | %s | %s | %s | %s |\n", what, fmt(a).c_str(), fmt(d).c_str(), fmt(f).c_str(),
                Ratio(d, a).c_str(), Ratio(d, f).c_str());
  };
  row("RSS idle", Mean(idle1[Path::kDevicePlugin], &Usage::rss_kib), Mean(idle1[Path::kAgentDra], &Usage::rss_kib),
      Mean(idle1[Path::kFakeDriver], &Usage::rss_kib), mib);
  row("anonymous RSS idle", Mean(idle1[Path::kDevicePlugin], &Usage::anon_kib),
      Mean(idle1[Path::kAgentDra], &Usage::anon_kib), Mean(idle1[Path::kFakeDriver], &Usage::anon_kib), mib);
  char label[96];
  std::snprintf(label, sizeof label, "RSS with %d pods served", per_node);
  row(label, Mean(dp.after, &Usage::rss_kib), Mean(dra.after, &Usage::rss_kib), Mean(fake.after, &Usage::rss_kib),
      mib);
  std::snprintf(label, sizeof label, "anonymous RSS with %d pods served", per_node);
  row(label, Mean(dp.after, &Usage::anon_kib), Mean(dra.after, &Usage::anon_kib), Mean(fake.after, &Usage::anon_kib),
      mib);
  auto idle_cpu = [&](Path p) {
    return (Mean(idle1[p], &Usage::cpu_ms) - Mean(idle0[p], &Usage::cpu_ms)) * 60.0 /
           static_cast<double>(idle_window.count());
  };
  row("CPU idle, a minute", idle_cpu(Path::kDevicePlugin), idle_cpu(Path::kAgentDra), idle_cpu(Path::kFakeDriver), ms);
  auto per_pod = [&](const PathResult& r) {
    return (Mean(r.after, &Usage::cpu_ms) - Mean(r.before, &Usage::cpu_ms)) * kNodes / static_cast<double>(n);
  };
  row("CPU per pod served (its own pods' phase)", per_pod(dp), per_pod(dra), per_pod(fake), ms);

  std::printf("\nThe peer is tests/cluster's fakedriver (k8s.io/dynamic-resource-allocation/kubeletplugin, the helper "
              "kubernetes-sigs/dra-example-driver is built on): the Go module proxy here answers 403 for "
              "sigs.k8s.io/dra-example-driver. Pods are created one per node at a time (rounds of %d), pinned by "
              "node selector; created -> Running runs from the create call to the pod watch event showing phase "
              "Running. NodePrepareResources is the kubelet's own timing "
              "(dra_grpc_operations_duration_seconds, whose buckets start at 0.1 s): each call is the difference of "
              "the histogram's _sum on its node around its round, one call per node per round. Each driver had %d "
              "devices per node; a path's pods were deleted before the next path's, and the RSS rows are with a "
              "path's %d pods a node running (claims prepared, devices allocated). CPU idle over %lld s; CPU per pod is each server's utime + stime over its own "
              "pods' phase, summed over the nodes, over the %d pods. sim-kubelet ran at --v=1.\n",
              kNodes, per_node, per_node, static_cast<long long>(idle_window.count()), n);
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace hf::bench

int main(int argc, char** argv) {
  using namespace hf::bench;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--smoke") {
      smoke = true;
    } else if (a.rfind("--fakedriver=", 0) == 0) {
      fakedriver_bin = a.substr(13);
    } else {
      args.push_back(a);
    }
  }
  if (args.size() > 1 || fakedriver_bin.empty()) {
    std::fprintf(stderr, "usage: dra_bench [--smoke] --fakedriver=PATH [N]\n");
    return 2;
  }
  if (!fs::exists(fakedriver_bin)) {
    std::fprintf(stderr, "%s missing: build tests/cluster/cmd/sim-kubelet/testdata/fakedriver\n",
                 fakedriver_bin.c_str());
    return 2;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "dra_bench needs root: sim-kubelet mounts in private mount namespaces\n");
    return 2;
  }
  int n = args.empty() ? (smoke ? 2 : 100) : std::stoi(args[0]);
  return Run(n);
}
