// Agent rollout benchmark on simulated nodes, printing one Markdown result
// block for bench/RESULTS.md:
//
//   rollout_bench [--smoke] N
//
// The chart with helm, devicepool-operator as a local process under the
// chart's ServiceAccount and N sim-kubelets (tests/cluster), each running the
// kubelet's real device manager and the pool's agent pods, as in
// tests/e2e/e2e_fixture.h, on a private control plane. One pool of four
// simulated devices per node gets, in this order:
//
//   1. a good agent template with strategy Managed,
//   2. another with RollingUpdate (the same maxUnavailable),
//   3. a bad one with RollingUpdate, then the good one back,
//   4. the bad one with Managed.
//
// For 1 and 2: the time from the spec patch until every node runs the new
// image's agent, Ready, and status.rollout says Complete; and per node how
// long the Node's allocatable stayed below the node's device count (the
// "dip"). For 3 and 4: how many nodes the bad image reached. Everything is
// read from watches (Nodes, agent pods, the pool), each event timed on
// arrival with the monotonic clock.
//
// The bad image is tests/e2e/images/agent-unhealthy.sh: the real agent, whose
// pod is Ready but whose devices are Unhealthy. A readiness-only rollout
// cannot tell it from a good one; a never-registering agent is never Ready,
// so the DaemonSet controller would stall it after maxUnavailable nodes
// anyway.
//
// --smoke checks correctness only (exit 1 when a check fails): both good
// rollouts complete and the bad image reaches exactly one node with Managed.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
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
using hf::testing::StringAt;
using kube::Json;
using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

constexpr char kPool[] = "custom-device";
constexpr char kResource[] = "hashfoundry.com/custom-device";
constexpr int kDevicesPerNode = 4;
constexpr char kMaxUnavailable[] = "25%";
// Node status is compared with the device manager this often; it bounds the
// resolution of a dip (the default is 1 s).
constexpr char kNodeStatusPeriod[] = "200ms";
constexpr char kGoodImage[] = "hashfoundry/devicepool-agent:v2";
constexpr char kNextImage[] = "hashfoundry/devicepool-agent:v3";
constexpr char kBadImage[] = "hashfoundry/devicepool-agent:unhealthy";
constexpr char kBadScript[] = "tests/e2e/images/agent-unhealthy.sh";

bool smoke = false;
int failures = 0;

void Check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "CHECK FAILED: %s\n", what.c_str());
    ++failures;
  }
}

void Progress(const std::string& what) { std::fprintf(stderr, "rollout_bench: %s\n", what.c_str()); }

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

// sim-kubelet's directory for the executables of one image
// (tests/cluster/README.md, "DaemonSet pods").
std::string ImageDir(const std::string& bin_dir, std::string image) {
  for (char& c : image) {
    if (c == '/' || c == ':' || c == '@') c = '_';
  }
  return bin_dir + "/by-image/" + image;
}

// Lists and then watches one kind of object until `stop`, re-opening the
// watch where it ended and listing again when its resourceVersion expired.
// Each object is handed over with the time it arrived.
void Follow(kube::Client& client, const kube::GroupVersionResource& gvr, const std::string& ns,
            const std::string& selector,
            const std::function<void(kube::WatchEventType, const Json&, Clock::time_point)>& on_event,
            std::stop_token stop) {
  std::mutex mu;
  std::condition_variable_any backoff;
  while (!stop.stop_requested()) {
    kube::ListOptions lo;
    lo.label_selector = selector;
    std::string rv;
    kube::Status listed = client.ListEach(
        gvr, ns, lo, [&](Json&& obj) { on_event(kube::WatchEventType::kAdded, obj, Clock::now()); }, &rv);
    bool expired = false;
    while (listed.ok() && !expired && !stop.stop_requested()) {
      kube::WatchOptions wo;
      wo.resource_version = rv;
      wo.label_selector = selector;
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
    // An API server that refuses: look again shortly, not in a tight loop.
    std::unique_lock<std::mutex> l(mu);
    backoff.wait_for(l, stop, std::chrono::milliseconds(listed.ok() ? 0 : 200), [] { return false; });
  }
}

// What the watches have seen: each Node's allocatable over time, the live
// agent pods, every node each image reached, the pool's status.rollout.
class Observed {
 public:
  struct Pod {
    std::string node, image;
    bool ready = false;
  };

  void OnNode(kube::WatchEventType type, const Json& node, Clock::time_point at) {
    if (type == kube::WatchEventType::kDeleted) return;
    std::string v = StringAt(node, {"status", "allocatable", kResource});
    int n = v.empty() ? 0 : std::atoi(v.c_str());
    std::lock_guard<std::mutex> l(mu_);
    auto& h = allocatable_[StringAt(node, {"metadata", "name"})];
    if (h.empty() || h.back().second != n) h.emplace_back(at, n);
    Changed(at);
  }

  void OnPod(kube::WatchEventType type, const Json& pod, Clock::time_point at) {
    std::string uid = StringAt(pod, {"metadata", "uid"});
    std::lock_guard<std::mutex> l(mu_);
    if (type == kube::WatchEventType::kDeleted || !At(pod, {"metadata", "deletionTimestamp"}).is_null()) {
      pods_.erase(uid);
    } else {
      Pod p{StringAt(pod, {"spec", "nodeName"}), StringAt(pod, {"spec", "containers", "0", "image"}), false};
      Json conds = At(pod, {"status", "conditions"});
      if (conds.is_array()) {
        for (const auto& c : conds) {
          if (c["type"] == "Ready" && c["status"] == "True") p.ready = true;
        }
      }
      if (!p.node.empty()) reached_[p.image].insert(p.node);
      pods_[uid] = p;
    }
    Changed(at);
  }

  void OnPool(kube::WatchEventType type, const Json& pool, Clock::time_point at) {
    std::lock_guard<std::mutex> l(mu_);
    rollout_ = type == kube::WatchEventType::kDeleted ? Json() : At(pool, {"status", "rollout"});
    Changed(at);
  }

  // Forgets which nodes `image` reached, to count them for one rollout.
  void ForgetReached(const std::string& image) {
    std::lock_guard<std::mutex> l(mu_);
    reached_.erase(image);
  }

  // Waits until `pred` holds, checked after every event; the arrival time of
  // the event after which it held, or nullopt after `timeout`.
  std::optional<Clock::time_point> WaitFor(const std::function<bool()>& pred, Clock::duration timeout) {
    std::unique_lock<std::mutex> l(mu_);
    if (!cv_.wait_for(l, timeout, pred)) return std::nullopt;
    return last_event_;
  }

  // For predicates, which run with the lock held (inside WaitFor), or under Locked().
  std::string Rollout(std::initializer_list<const char*> path) const { return StringAt(rollout_, path); }
  const Json& RolloutStatus() const { return rollout_; }
  int Reached(const std::string& image) const {
    auto it = reached_.find(image);
    return it == reached_.end() ? 0 : static_cast<int>(it->second.size());
  }
  // Nodes whose live agent pod runs `image` ("" for any) and is Ready.
  int Running(const std::string& image) const {
    std::set<std::string> nodes;
    for (const auto& [uid, p] : pods_) {
      if ((image.empty() || p.image == image) && p.ready) nodes.insert(p.node);
    }
    return static_cast<int>(nodes.size());
  }
  // Nodes whose allocatable is the full device count now.
  int Healthy() const {
    int n = 0;
    for (const auto& [node, h] : allocatable_) n += !h.empty() && h.back().second >= kDevicesPerNode ? 1 : 0;
    return n;
  }
  int Allocatable() const {
    int n = 0;
    for (const auto& [node, h] : allocatable_) n += h.empty() ? 0 : h.back().second;
    return n;
  }

  std::unique_lock<std::mutex> Locked() { return std::unique_lock<std::mutex>(mu_); }

  // Per node, how long its allocatable was below the device count within
  // [from, to], in ms.
  std::vector<double> Dips(Clock::time_point from, Clock::time_point to) {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<double> out;
    for (const auto& [node, h] : allocatable_) {
      double below = 0;
      std::optional<Clock::time_point> since;
      for (const auto& [at, n] : h) {
        if (at > to) break;
        Clock::time_point t = std::max(at, from);
        if (n < kDevicesPerNode && !since) since = t;
        if (n >= kDevicesPerNode && since) {
          below += Millis(t - *since);
          since.reset();
        }
      }
      if (since) below += Millis(to - *since);
      out.push_back(below);
    }
    return out;
  }

 private:
  void Changed(Clock::time_point at) {
    last_event_ = at;
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  Clock::time_point last_event_;
  std::map<std::string, std::vector<std::pair<Clock::time_point, int>>> allocatable_;
  std::map<std::string, Pod> pods_;
  std::map<std::string, std::set<std::string>> reached_;
  Json rollout_;
};

// Nearest rank.
double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

struct Outcome {
  bool done = false;
  double seconds = 0;
  std::vector<double> dips_ms;  // per node
  int reached = 0;              // nodes the image reached
  int allocatable = 0;          // the pool's allocatable devices at the end
  std::string phase;
};

// The cluster, the chart, the nodes, the operator and the pool, torn down
// in order by the destructor.
class Bench {
 public:
  explicit Bench(int nodes) : nodes_(nodes) {
    std::string dir = fs::temp_directory_path() / hf::testing::UniqueName("hf-bench-rollout");
    cluster_ = LocalCluster::Start(dir);
    client_ = cluster_->AdminClient();
    bin_ = cluster_->Env("HF_CLUSTER_BIN");
    release_ = "rollout-bench";
    work_ = cluster_->dir() + "/" + release_;
    images_ = work_ + "/images";
    fs::create_directories(images_);
    // The container command /usr/bin/devicepool-agent runs images_/devicepool-agent
    // unless the image has its own (by-image/...).
    fs::create_symlink(HF_AGENT_BIN, images_ + "/devicepool-agent");
    fs::create_directories(ImageDir(images_, kBadImage));
    // A symlink keeps the script's $0 inside images_, where it finds the agent.
    fs::create_symlink(Source(kBadScript), ImageDir(images_, kBadImage) + "/devicepool-agent");

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

    watches_.emplace_back([this](std::stop_token stop) {
      Follow(*client_, kube::resources::Nodes(), "", "",
             [this](auto type, const Json& o, auto at) { seen_.OnNode(type, o, at); }, stop);
    });
    watches_.emplace_back([this](std::stop_token stop) {
      Follow(*client_, kube::resources::Pods(), release_, std::string(api::kPoolLabel) + "=" + kPool,
             [this](auto type, const Json& o, auto at) { seen_.OnPod(type, o, at); }, stop);
    });
    watches_.emplace_back([this](std::stop_token stop) {
      Follow(*client_, api::DevicePools(), "", "",
             [this](auto type, const Json& o, auto at) {
               if (StringAt(o, {"metadata", "name"}) == kPool) seen_.OnPool(type, o, at);
             },
             stop);
    });

    for (int i = 1; i <= nodes; ++i) StartNode(release_ + "-node-" + std::to_string(i));
    Check(Eventually([&] { return ReadyNodes() == nodes; }, seconds(120)), "every node Ready");
    StartOperator();
  }

  ~Bench() {
    if (failures > 0) std::fprintf(stderr, "%s", Logs().c_str());
    // The pool while the operator runs to release its finalizer and the
    // nodes run to confirm its agents stopped.
    (void)client_->Delete(api::DevicePools(), "", kPool);
    Check(Eventually(
              [&] {
                auto r = client_->Get(api::DevicePools(), "", kPool);
                return !r.ok() && r.status().reason() == kube::Reason::kNotFound;
              },
              seconds(120)),
          "pool deleted");
    if (op_) {
      op_->Signal(SIGTERM);
      Check(op_->Wait() == 0, "operator stopped cleanly");
    }
    // SIGTERM, never SIGKILL: a node stops its agents' processes on the way out.
    for (auto& n : procs_) {
      n->Signal(SIGTERM);
      Check(n->Wait(seconds(60)) == 0, "node stopped cleanly: " + n->log_path());
    }
    watches_.clear();
    hf::testing::Run(
        {bin_ + "/helm", "uninstall", release_, "--namespace", release_, "--kubeconfig", cluster_->kubeconfig()});
    (void)client_->Delete(kube::resources::Namespaces(), "", release_);
    for (int i = 1; i <= nodes_; ++i) {
      (void)client_->Delete(kube::resources::Nodes(), "", release_ + "-node-" + std::to_string(i));
    }
    // The private control plane goes with cluster_.
  }

  Bench(const Bench&) = delete;
  Bench& operator=(const Bench&) = delete;

  // The pool with `rollout`, its agents Ready and every node's devices allocatable.
  bool CreatePool(const Json& rollout) {
    Json pool = {{"apiVersion", "hashfoundry.com/v1alpha1"},
                 {"kind", "DevicePool"},
                 {"metadata", {{"name", kPool}}},
                 {"spec",
                  {{"resourceName", kResource},
                   {"nodeSelector", {{"matchLabels", {{"hashfoundry.com/custom-device", "enabled"}}}}},
                   {"discovery", {{"simulated", {{"count", kDevicesPerNode}}}}},
                   {"rollout", rollout},
                   {"monitoring",
                    {{"serviceMonitor", {{"enabled", false}}}, {"prometheusRule", {{"enabled", false}}}}}}}};
    auto r = client_->Create(api::DevicePools(), "", pool);
    Check(r.ok(), "create pool: " + (r.ok() ? "" : r.status().ToString()));
    return Settled("", seconds(180));
  }

  // Rolls `image` out with `rollout` (merged into the spec first, and waited
  // for on the DaemonSet). A good image: until every node runs it and
  // status.rollout is Complete on a new revision. A bad one: until Managed
  // rolled back, or RollingUpdate put it everywhere (or gave up).
  Outcome Roll(const Json& rollout, const std::string& image, bool bad) {
    const std::string strategy = rollout.value("strategy", "Managed");
    Progress(strategy + " rollout of " + image);
    Check(Patch({{"spec", {{"rollout", rollout}}}}), "patch spec.rollout");
    const std::string ds_strategy = strategy == "Managed" ? "OnDelete" : "RollingUpdate";
    Check(Eventually(
              [&] {
                auto ds = client_->Get(kube::resources::DaemonSets(), release_, std::string("devicepool-") + kPool);
                return ds.ok() && StringAt(*ds, {"spec", "updateStrategy", "type"}) == ds_strategy &&
                       At(*ds, {"status", "observedGeneration"}) == At(*ds, {"metadata", "generation"});
              },
              seconds(60)),
          "the DaemonSet's updateStrategy is " + ds_strategy);
    std::string old_revision;
    {
      auto l = seen_.Locked();
      old_revision = seen_.Rollout({"currentRevision"});
    }
    const int n = nodes_;
    auto timeout = seconds(60 + 30 * n);
    std::function<bool()> done;
    if (!bad) {
      done = [&] {
        return seen_.Running(image) == n && seen_.Rollout({"phase"}) == "Complete" &&
               seen_.Rollout({"currentRevision"}) != old_revision &&
               seen_.Rollout({"updateRevision"}) == seen_.Rollout({"currentRevision"});
      };
    } else if (strategy == "Managed") {
      done = [&] { return seen_.Rollout({"phase"}) == "RolledBack" && !seen_.Rollout({"completionTime"}).empty(); };
      timeout = seconds(180);
    } else {
      done = [&] { return seen_.Running(image) == n && seen_.Rollout({"phase"}) == "Complete"; };
    }

    seen_.ForgetReached(image);  // an earlier rollout of the same image
    const auto start = Clock::now();
    Check(Patch({{"spec", {{"agent", {{"image", image}}}}}}), "patch spec.agent.image");
    auto end = seen_.WaitFor(done, timeout);
    Outcome o;
    o.done = end.has_value();
    auto until = end.value_or(Clock::now());
    o.seconds = Millis(until - start) / 1000;
    o.dips_ms = seen_.Dips(start, until);
    auto l = seen_.Locked();
    o.reached = seen_.Reached(image);
    o.allocatable = seen_.Allocatable();
    o.phase = seen_.Rollout({"phase"});
    if (!o.done) {
      std::fprintf(stderr, "%s rollout of %s did not end within %lds; status.rollout:\n%s\n", strategy.c_str(),
                   image.c_str(), static_cast<long>(timeout.count()), seen_.RolloutStatus().dump(2).c_str());
    }
    return o;
  }

  // An agent Ready on every node, running `image` ("" for any), every
  // node's devices allocatable, the rollout at rest.
  bool Settled(const std::string& image, Clock::duration timeout) {
    const int n = nodes_;
    bool ok = seen_
                  .WaitFor(
                      [&] {
                        std::string phase = seen_.Rollout({"phase"});
                        return (phase == "Idle" || phase == "Complete" || phase == "RolledBack") &&
                               seen_.Healthy() == n && seen_.Running(image) == n;
                      },
                      timeout)
                  .has_value();
    if (!ok) {
      auto l = seen_.Locked();
      std::fprintf(stderr, "not settled: %d/%d nodes healthy; status.rollout:\n%s\n", seen_.Healthy(), n,
                   seen_.RolloutStatus().dump(2).c_str());
    }
    return ok;
  }

  // The pool's allocatable devices now.
  int Allocatable() {
    auto l = seen_.Locked();
    return seen_.Allocatable();
  }

  std::string Logs() {
    std::ostringstream out;
    for (const auto& n : procs_) out << "--- " << n->log_path() << " ---\n" << Tail(n->log_path(), 15);
    if (op_) out << "--- " << op_->log_path() << " ---\n" << Tail(op_->log_path(), 40);
    return out.str();
  }

 private:
  void StartNode(const std::string& name) {
    std::string kubeconfig = work_ + "/" + name + ".kubeconfig";
    auto r = hf::testing::Run({bin_ + "/cluster", "node-kubeconfig", cluster_->dir(), name, "--out", kubeconfig});
    Check(r.exit_code == 0, "node-kubeconfig: " + r.output);
    // The e2e fixture's flags, and node status compared every kNodeStatusPeriod.
    auto p = ChildProcess::Start(
        {bin_ + "/sim-kubelet", "--node-name=" + name, "--root=" + work_ + "/nodes/" + name,
         "--kubeconfig=" + kubeconfig, "--recorder-kubeconfig=" + cluster_->kubeconfig(),
         "--node-labels=hashfoundry.com/custom-device=enabled", "--image-bin-dir=" + images_,
         "--max-probe-period=1s", "--crash-backoff=1s",
         std::string("--node-status-update-frequency=") + kNodeStatusPeriod, "--v=2"},
        work_ + "/" + name + ".log");
    Check(p != nullptr, "start sim-kubelet " + name);
    if (p) procs_.push_back(std::move(p));
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

  bool Patch(const Json& patch) {
    auto r = client_->Patch(api::DevicePools(), "", kPool, kube::PatchType::kMerge, patch.dump());
    if (!r.ok()) std::fprintf(stderr, "patch %s: %s\n", patch.dump().c_str(), r.status().ToString().c_str());
    return r.ok();
  }

  int ReadyNodes() {
    int ready = 0;
    for (int i = 1; i <= nodes_; ++i) {
      auto node = client_->Get(kube::resources::Nodes(), "", release_ + "-node-" + std::to_string(i));
      Json conds = node.ok() ? At(*node, {"status", "conditions"}) : Json();
      if (!conds.is_array()) continue;
      for (const auto& c : conds) {
        if (c["type"] == "Ready" && c["status"] == "True") ++ready;
      }
    }
    return ready;
  }

  int nodes_;
  std::unique_ptr<LocalCluster> cluster_;
  std::unique_ptr<kube::Client> client_;
  std::string bin_, release_, work_, images_;
  std::vector<std::unique_ptr<ChildProcess>> procs_;
  std::unique_ptr<ChildProcess> op_;
  Observed seen_;
  std::vector<std::jthread> watches_;  // last: stopped and joined first
};

std::string Dip(const Outcome& o) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%.0f / %.0f / %.0f ms", Percentile(o.dips_ms, 0.5), Percentile(o.dips_ms, 0.99),
                o.dips_ms.empty() ? 0.0 : *std::max_element(o.dips_ms.begin(), o.dips_ms.end()));
  return buf;
}

int Run(int n) {
  if (!fs::exists(Source(kBadScript))) {
    std::fprintf(stderr, "%s is missing: it is the bad agent build\n", Source(kBadScript).c_str());
    return 1;
  }
  Bench b(n);
  if (failures > 0) return 1;
  // Managed: a canary of one node, no bake for the good templates (so the
  // time compares gates, not a wait), a few seconds for the bad one as a
  // user would set; the same maxUnavailable as RollingUpdate.
  const Json managed = {{"strategy", "Managed"},
                        {"canary", {{"nodes", 1}, {"bakeTime", "0s"}}},
                        {"maxUnavailable", kMaxUnavailable},
                        {"progressDeadline", "2m"},
                        {"autoRollback", true}};
  const Json rolling = {{"strategy", "RollingUpdate"}, {"maxUnavailable", kMaxUnavailable}};
  Json managed_bad = managed;
  managed_bad["canary"]["bakeTime"] = "5s";
  managed_bad["progressDeadline"] = "30s";

  Progress("pool with " + std::to_string(n) + " nodes");
  Check(b.CreatePool(managed), "pool Ready, every node's devices allocatable");
  if (failures > 0) return 1;
  Outcome good_managed = b.Roll(managed, kGoodImage, false);
  Check(good_managed.done, "the Managed rollout completed");
  Check(b.Settled(kGoodImage, seconds(60)), "settled after the Managed rollout");
  Outcome good_rolling = b.Roll(rolling, kNextImage, false);
  Check(good_rolling.done, "the RollingUpdate rollout completed");
  Check(b.Settled(kNextImage, seconds(60)), "settled after the RollingUpdate rollout");

  Outcome bad_rolling = b.Roll(rolling, kBadImage, true);
  Check(b.Roll(rolling, kNextImage, false).done, "RollingUpdate back to the good image completed");
  Check(b.Settled(kNextImage, seconds(120)), "settled after the bad RollingUpdate");

  Outcome bad_managed = b.Roll(managed_bad, kBadImage, true);
  Check(bad_managed.done && bad_managed.phase == "RolledBack", "the bad image rolled back (Managed)");
  Check(bad_managed.reached == 1, "the bad image reached only the canary (Managed): " +
                                      std::to_string(bad_managed.reached) + " nodes");
  Check(b.Settled(kNextImage, seconds(120)), "every node back on the good image after the rollback");
  const int after_rollback = b.Allocatable();

  const int total = n * kDevicesPerNode;
  std::printf("| agent rollout, %d simulated nodes, maxUnavailable %s | Managed | RollingUpdate | goal |\n", n,
              kMaxUnavailable);
  std::printf("|---|---|---|---|\n");
  std::printf("| good template: patch -> all nodes on it, phase Complete | %.1f s | %.1f s | |\n", good_managed.seconds,
              good_rolling.seconds);
  std::printf("| allocatable dip per node, p50 / p99 / max | %s | %s | under 1 s |\n", Dip(good_managed).c_str(),
              Dip(good_rolling).c_str());
  std::printf("| bad template (agent-unhealthy.sh): nodes it reached | %d of %d, phase %s after %.1f s | %d of %d, "
              "phase %s after %.1f s | the canary only |\n",
              bad_managed.reached, n, bad_managed.phase.c_str(), bad_managed.seconds, bad_rolling.reached, n,
              bad_rolling.phase.c_str(), bad_rolling.seconds);
  std::printf("| devices allocatable after the bad template | %d of %d | %d of %d | |\n", after_rollback, total,
              bad_rolling.allocatable, total);
  std::printf("\nManaged: canary 1 node, bakeTime 0s for the good template; 5s and progressDeadline 30s for the bad "
              "one. The bad template is tests/e2e/images/agent-unhealthy.sh: the real agent, its pod Ready, its "
              "devices Unhealthy, so readiness alone passes it (a never-registering agent is never Ready and would "
              "stall RollingUpdate at maxUnavailable nodes). A dip is the time a Node's allocatable for %s stayed "
              "below %d, from Node watch events timed on arrival; sim-kubelet compared node status every %s "
              "(--node-status-update-frequency; the default is 1 s), which bounds its resolution.\n",
              kResource, kDevicesPerNode, kNodeStatusPeriod);
  return failures == 0 ? 0 : 1;
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
  if (args.size() > 1) {
    std::fprintf(stderr, "usage: rollout_bench [--smoke] [N]\n");
    return 2;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "rollout_bench needs root: sim-kubelet mounts in private mount namespaces\n");
    return 2;
  }
  int n = args.empty() ? (smoke ? 2 : 8) : std::stoi(args[0]);
  return Run(n);
}
