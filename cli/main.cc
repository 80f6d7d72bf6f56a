// kubectl-devicepool: `kubectl devicepool ...`, a kubectl plugin (found on
// PATH by its name) for DevicePools.
//
//   kubectl devicepool status [POOL] [-o text|json|yaml] [-w]
//   kubectl devicepool diagnose POOL [--node NODE] [-o text|json]
//   kubectl devicepool test POOL [--image IMAGE] [--timeout=2m] [--keep]
//   kubectl devicepool rollout status|pause|resume|history|undo POOL [--timeout=10m] [--to-revision=N]
//   kubectl devicepool version
//
// Global flags, anywhere: --kubeconfig=PATH, --context=NAME (else
// $KUBECONFIG, ~/.kube/config, then in-cluster).
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <optional>
#include <random>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "api/names.h"
#include "cli/diagnose.h"
#include "cli/rollout_history.h"
#include "cli/status.h"
#include "cli/test_pods.h"
#include "kube/manager/signals.h"
#include "operator/desired.h"
#include "kube/rest/client.h"
#include "kube/rest/config.h"
#include "kube/rest/transport.h"

#ifndef HF_VERSION
#define HF_VERSION "dev"
#endif

namespace hf::cli {
namespace {

using Json = nlohmann::json;

constexpr const char* kUsage = R"(usage: kubectl devicepool COMMAND [flags]

Commands:
  status [POOL]                  conditions, rollout, and node by node the agent's report beside
                                 the Node's capacity and allocatable, then each device
      -o text|json|yaml          output (default text; colour only on a terminal, not with NO_COLOR)
      -w                         print again on every change of the pool or its reports
  diagnose POOL                  what an expert would check, in order: CRDs, operator, conditions,
                                 selector, conflicts, agents, reports against the Nodes, pending
                                 pods, monitoring, Warning Events; each finding with its evidence
                                 and the fix. Exit 0 when clean, 1 on warnings, 2 on errors
      --node NODE                only this node's checks
      -o text|json
  test POOL                      run the sample test pods (config/samples/test-pods.yaml: one device,
                                 two devices) in a scratch namespace, check from their logs that
                                 each got its devices, every file in place, no device twice; then
                                 delete the namespace (also on Ctrl-C). Exit 0 passed, 1 failed
      --image IMAGE              the test pods' image (default busybox:1.36; it needs sh)
      --timeout=DURATION         how long to wait for the pods (default 2m)
      --keep                     leave the namespace for a look
  rollout status POOL            follow the pool's agent rollout until it ends: exit 0 when
                                 Complete, 1 when Failed or rolled back (once the last good
                                 agent is back on every node), 2 on --timeout
  rollout pause POOL             set spec.rollout.paused: no further node is replaced
  rollout resume POOL            clear it
  rollout history POOL           the agent templates the DaemonSet ran (its ControllerRevisions):
                                 image, nodes running each, current, rolling out or failed
  rollout undo POOL              bring an earlier agent back by setting spec.agent.image to its
                                 image: the last good one during a rollout, else the previous;
                                 refused when the templates differ in more than the image
      --to-revision=N            undo to revision N of history
      --timeout=DURATION         (default 10m; s, m or h)
  version

Flags:
  --kubeconfig=PATH  --context=NAME
)";

struct Args {
  std::vector<std::string> words;
  std::string kubeconfig, context, output = "text", timeout, node, image, to_revision;
  bool watch = false, keep = false;
};

int Fail(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "kubectl-devicepool: %s\n", msg.c_str());
  return code;
}

bool ParseArgs(int argc, char** argv, Args* a, std::string* err) {
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto value = [&](const std::string& flag, std::string* dst) {
      if (s.rfind(flag + "=", 0) == 0) {
        *dst = s.substr(flag.size() + 1);
        return true;
      }
      if (s == flag && i + 1 < argc) {
        *dst = argv[++i];
        return true;
      }
      return false;
    };
    if (value("--kubeconfig", &a->kubeconfig) || value("--context", &a->context) || value("-o", &a->output) ||
        value("--output", &a->output) || value("--timeout", &a->timeout) || value("--node", &a->node) ||
        value("--image", &a->image) || value("--to-revision", &a->to_revision)) {
      continue;
    }
    if (s == "-w" || s == "--watch") {
      a->watch = true;
    } else if (s == "--keep") {
      a->keep = true;
    } else if (s == "-h" || s == "--help") {
      a->words = {"help"};
      return true;
    } else if (!s.empty() && s[0] == '-') {
      *err = "unknown flag " + s;
      return false;
    } else {
      a->words.push_back(s);
    }
  }
  if (a->output != "text" && a->output != "json" && a->output != "yaml") {
    *err = "-o wants text, json or yaml, got '" + a->output + "'";
    return false;
  }
  return true;
}

YAML::Node ToYaml(const Json& j) {
  YAML::Node n;
  if (j.is_object()) {
    n = YAML::Node(YAML::NodeType::Map);
    for (auto it = j.begin(); it != j.end(); ++it) n[it.key()] = ToYaml(it.value());
  } else if (j.is_array()) {
    n = YAML::Node(YAML::NodeType::Sequence);
    for (const auto& e : j) n.push_back(ToYaml(e));
  } else if (j.is_string()) {
    n = j.get<std::string>();
  } else if (j.is_null()) {
    n = YAML::Node(YAML::NodeType::Null);
  } else {
    n = j.dump();  // numbers and booleans, as JSON spells them
  }
  return n;
}

std::chrono::seconds ParseDuration(const std::string& s, bool* ok) {
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  std::string unit = end == nullptr ? "" : end;
  *ok = v > 0 && (unit == "s" || unit == "m" || unit == "h");
  return std::chrono::seconds(v * (unit == "h" ? 3600 : unit == "m" ? 60 : 1));
}

int Status(kube::Client& client, const Args& a, std::stop_token stop) {
  const std::string pool = a.words.size() > 1 ? a.words[1] : "";
  const bool color = a.output == "text" && isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr;
  std::string last;
  for (;;) {
    auto views = GatherPools(client, pool);
    if (!views.ok()) return Fail(views.status().ToString());
    std::string out;
    if (a.output == "text") {
      if (views->empty()) out = "No DevicePools.\n";
      for (size_t i = 0; i < views->size(); ++i) out += (i > 0 ? "\n" : "") + RenderStatus((*views)[i], color);
    } else {
      Json all = Json::array();
      for (const auto& v : *views) all.push_back(StatusJson(v));
      Json doc = pool.empty() ? Json{{"pools", all}} : all[0];
      if (a.output == "json") {
        out = doc.dump(2) + "\n";
      } else {
        YAML::Emitter e;
        e << ToYaml(doc);
        out = std::string(e.c_str()) + "\n";
      }
    }
    if (out != last) {
      if (!last.empty()) std::fputs("\n", stdout);
      std::fputs(out.c_str(), stdout);
      std::fflush(stdout);
      last = out;
    }
    if (!a.watch) return 0;
    // Until the pool or any report changes (or a watch times out). The
    // lists only give the watches their start: one item a page is enough.
    kube::ListOptions rv_only;
    rv_only.limit = 1;
    auto pools = client.List(api::DevicePools(), "", rv_only);
    if (!pools.ok()) return Fail(pools.status().ToString());
    auto reports = client.List(api::DevicePoolNodes(), "", rv_only);
    if (!reports.ok()) return Fail(reports.status().ToString());
    std::stop_source either;
    std::stop_callback forward(stop, [&] { either.request_stop(); });
    auto on_event = [&](kube::WatchEvent&&) {
      either.request_stop();
      return false;
    };
    kube::WatchOptions wo;
    wo.timeout_seconds = 30;
    {
      std::jthread watch_reports([&] {
        kube::WatchOptions rw = wo;
        rw.resource_version = reports->resource_version;
        (void)client.Watch(api::DevicePoolNodes(), "", rw, on_event, either.get_token());
        either.request_stop();
      });
      wo.resource_version = pools->resource_version;
      (void)client.Watch(api::DevicePools(), "", wo, on_event, either.get_token());
      either.request_stop();
    }
    if (stop.stop_requested()) return 0;
  }
}

int Diagnose(kube::Client& client, const Args& a) {
  if (a.output == "yaml") return Fail("diagnose: -o wants text or json", 2);
  auto snap = GatherSnapshot(client, a.words[1], a.node);
  if (!snap.ok()) return Fail(snap.status().ToString(), 2);
  auto findings = hf::cli::Diagnose(*snap);
  if (a.output == "json") {
    std::fputs((FindingsJson(*snap, findings).dump(2) + "\n").c_str(), stdout);
  } else {
    const bool color = isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr;
    std::fputs(RenderFindings(*snap, findings, color).c_str(), stdout);
  }
  return ExitCode(findings);
}

int RunTest(kube::Client& client, const std::string& pool, const Args& a, std::chrono::seconds timeout,
            std::stop_token stop) {
  auto obj = client.Get(api::DevicePools(), "", pool);
  if (!obj.ok()) return Fail(obj.status().ToString());
  const std::string resource = obj->value("/spec/resourceName"_json_pointer, std::string());
  auto pods = TestPods(resource, a.image);
  if (!pods.ok()) return Fail(pods.status().ToString());

  std::random_device rd;
  std::string ns = "devicepool-test-";
  for (int i = 0; i < 5; ++i) ns += "bcdfghjklmnpqrstvwxz2456789"[rd() % 27];
  Json ns_obj = {{"apiVersion", "v1"},
                 {"kind", "Namespace"},
                 {"metadata", {{"name", ns}, {"labels", {{"app.kubernetes.io/managed-by", "kubectl-devicepool"}}}}}};
  auto created = client.Create(kube::resources::Namespaces(), "", ns_obj);
  if (!created.ok()) return Fail("creating namespace " + ns + ": " + created.status().ToString());
  std::printf("namespace/%s created for the test pods\n", ns.c_str());
  std::fflush(stdout);
  auto cleanup = [&] {
    if (a.keep) {
      std::printf("kept namespace/%s (kubectl delete namespace %s)\n", ns.c_str(), ns.c_str());
      return;
    }
    auto st = client.Delete(kube::resources::Namespaces(), "", ns);
    if (st.ok() || kube::IsNotFound(st)) {
      std::printf("namespace/%s deleted\n", ns.c_str());
    } else {
      std::fprintf(stderr, "kubectl-devicepool: deleting namespace %s: %s\n", ns.c_str(), st.ToString().c_str());
    }
  };
  for (const auto& pod : *pods) {
    auto c = client.Create(kube::resources::Pods(), ns, pod);
    if (!c.ok()) {
      cleanup();
      return Fail("creating pod " + pod.value("/metadata/name"_json_pointer, std::string()) + ": " +
                  c.status().ToString());
    }
    std::printf("pod/%s created, asking for %d %s\n", c->value("/metadata/name"_json_pointer, std::string()).c_str(),
                Requested(pod, resource), resource.c_str());
  }
  std::fflush(stdout);

  // Until every pod has ended, the deadline, or Ctrl-C.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<Json> seen;
  while (true) {
    auto list = client.List(kube::resources::Pods(), ns);
    if (!list.ok()) {
      cleanup();
      return Fail(list.status().ToString());
    }
    seen = list->items;
    bool done = !seen.empty();
    for (const auto& p : seen) {
      std::string phase = p.value("/status/phase"_json_pointer, std::string());
      done = done && (phase == "Succeeded" || phase == "Failed");
    }
    if (done || stop.stop_requested() || std::chrono::steady_clock::now() >= deadline) break;
    kube::WatchOptions wo;
    wo.resource_version = list->resource_version;
    wo.timeout_seconds = 5;
    (void)client.Watch(kube::resources::Pods(), ns, wo, [](kube::WatchEvent&&) { return false; }, stop);
  }
  if (stop.stop_requested()) {
    std::printf("interrupted\n");
    cleanup();
    return 1;
  }
  std::map<std::string, std::string> logs;
  for (const auto& p : seen) {
    if (p.value("/status/phase"_json_pointer, std::string()) == "Pending") continue;
    const std::string name = p.value("/metadata/name"_json_pointer, std::string());
    auto log = client.GetText("/api/v1/namespaces/" + ns + "/pods/" + name + "/log?container=test");
    if (log.ok()) logs[name] = *log;
  }
  auto results = JudgeTestPods(seen, logs, resource);
  std::fputs(RenderTestReport(pool, results).c_str(), stdout);
  cleanup();
  for (const auto& r : results) {
    if (!r.problems.empty()) return 1;
  }
  return results.empty() ? 1 : 0;
}

// The pool's DaemonSet (any namespace: the operator's), its ControllerRevisions and agent pods.
struct AgentHistory {
  api::RolloutStatus rollout;
  std::string spec_hash;
  std::vector<Revision> revisions;
};

kube::StatusOr<AgentHistory> ReadHistory(kube::Client& client, const std::string& pool) {
  auto obj = client.Get(api::DevicePools(), "", pool);
  if (!obj.ok()) return obj.status();
  AgentHistory h;
  h.rollout = api::DecodeDevicePoolStatus(*obj).rollout;
  kube::ListOptions of_pool;
  of_pool.label_selector = std::string(api::kPoolLabel) + "=" + pool;
  auto ds = client.List(kube::resources::DaemonSets(), "", of_pool);
  if (!ds.ok()) return ds.status();
  if (ds->items.empty()) return kube::Status(kube::Reason::kNotFound, "devicepool/" + pool + " has no agent DaemonSet yet");
  const Json& d = ds->items[0];
  const std::string ns = d.value("/metadata/namespace"_json_pointer, std::string());
  h.spec_hash = d.value("/spec/template/metadata/annotations"_json_pointer, Json::object())
                    .value(controller::kTemplateHashAnnotation, std::string());
  auto crs = client.List(kube::resources::ControllerRevisions(), ns, of_pool);
  if (!crs.ok()) return crs.status();
  auto pods = client.List(kube::resources::Pods(), ns, of_pool);
  if (!pods.ok()) return pods.status();
  h.revisions = Revisions(crs->items, pods->items, h.rollout);
  return h;
}

int RolloutHistory(kube::Client& client, const std::string& pool) {
  auto h = ReadHistory(client, pool);
  if (!h.ok()) return Fail(h.status().ToString());
  std::fputs(RenderHistory(pool, h->revisions, h->spec_hash).c_str(), stdout);
  return 0;
}

int RolloutUndo(kube::Client& client, const std::string& pool, const std::string& to_revision) {
  std::optional<int64_t> to;
  if (!to_revision.empty()) {
    char* end = nullptr;
    long long n = std::strtoll(to_revision.c_str(), &end, 10);
    if (end == to_revision.c_str() || *end != '\0' || n <= 0) {
      return Fail("--to-revision wants a revision number from rollout history, got '" + to_revision + "'", 2);
    }
    to = n;
  }
  auto h = ReadHistory(client, pool);
  if (!h.ok()) return Fail(h.status().ToString());
  auto target = UndoTarget(h->revisions, h->spec_hash, h->rollout, to);
  if (!target.ok()) return Fail(target.status().message());
  const Revision* from = nullptr;
  for (const auto& r : h->revisions) {
    if (r.hash == h->spec_hash) from = &r;
  }
  if (from == nullptr) return Fail("the DaemonSet's template " + h->spec_hash + " is in no ControllerRevision yet; try again");
  auto patch = UndoPatch(*from, *target);
  if (!patch.ok()) return Fail(patch.status().message());
  auto r = client.Patch(api::DevicePools(), "", pool, kube::PatchType::kMerge, patch->dump(),
                        kube::PatchOptions{"kubectl-devicepool", "", false});
  if (!r.ok()) return Fail(r.status().ToString());
  std::printf("devicepool/%s: spec.agent.image set to %s, the agent of revision %lld (%s)\n", pool.c_str(),
              target->image.c_str(), static_cast<long long>(target->number), target->hash.c_str());
  std::printf("follow it with: kubectl devicepool rollout status %s\n", pool.c_str());
  std::printf("under GitOps, change the image in Git too, or the next sync undoes this\n");
  return 0;
}

int RolloutPause(kube::Client& client, const std::string& pool, bool paused) {
  Json patch = {{"spec", {{"rollout", {{"paused", paused}}}}}};
  auto r = client.Patch(api::DevicePools(), "", pool, kube::PatchType::kMerge, patch.dump(),
                        kube::PatchOptions{"kubectl-devicepool", "", false});
  if (!r.ok()) return Fail(r.status().ToString());
  std::printf("devicepool/%s rollout %s\n", pool.c_str(), paused ? "paused" : "resumed");
  return 0;
}

int RolloutStatus(kube::Client& client, const std::string& pool, std::chrono::seconds timeout,
                  std::stop_token stop) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last;
  while (!stop.stop_requested()) {
    auto obj = client.Get(api::DevicePools(), "", pool);
    if (!obj.ok()) return Fail(obj.status().ToString());
    int64_t generation = obj->value("/metadata/generation"_json_pointer, int64_t{0});
    auto status = api::DecodeDevicePoolStatus(*obj);
    const auto& r = status.rollout;
    std::string line = std::string(api::RolloutPhaseName(r.phase)) + ": " + std::to_string(r.updated_nodes) + "/" +
                       std::to_string(r.total_nodes) + " nodes updated" +
                       (r.message.empty() ? "" : " (" + r.message + ")");
    if (line != last) {
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
      last = line;
    }
    // Judge only a status written for the current spec.
    if (status.observed_generation >= generation) {
      switch (r.phase) {
        case api::RolloutPhase::kComplete:
        case api::RolloutPhase::kIdle:
          std::printf("devicepool/%s: rollout complete\n", pool.c_str());
          return 0;
        case api::RolloutPhase::kRolledBack:
          // Until the last good agent is back on every node it left.
          if (r.completion_time.empty()) break;
          [[fallthrough]];
        case api::RolloutPhase::kFailed:
          for (const auto& f : r.failed) {
            std::printf("  %s: gate %s: %s\n", f.node.c_str(), f.gate.c_str(), f.message.c_str());
          }
          return Fail("devicepool/" + pool + ": rollout " + std::string(api::RolloutPhaseName(r.phase)));
        default:
          break;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Fail("devicepool/" + pool + ": rollout not finished after --timeout", 2);
    }
    // Wait for the next change of this pool (bounded, so the deadline holds).
    kube::WatchOptions wo;
    wo.field_selector = "metadata.name=" + pool;
    wo.resource_version = obj->value("/metadata/resourceVersion"_json_pointer, std::string());
    wo.timeout_seconds = 5;
    (void)client.Watch(api::DevicePools(), "", wo, [](kube::WatchEvent&&) { return false; }, stop);
  }
  return 1;
}

int Main(int argc, char** argv) {
  Args a;
  std::string err;
  if (!ParseArgs(argc, argv, &a, &err)) {
    std::fprintf(stderr, "kubectl-devicepool: %s\n\n%s", err.c_str(), kUsage);
    return 2;
  }
  if (a.words.empty() || a.words[0] == "help") {
    std::fputs(kUsage, a.words.empty() ? stderr : stdout);
    return a.words.empty() ? 2 : 0;
  }
  if (a.words[0] == "version") {
    std::printf("kubectl-devicepool %s\n", HF_VERSION);
    return 0;
  }
  auto config = kube::LoadConfig(a.kubeconfig, a.context);
  if (!config.ok()) return Fail(config.status().ToString());
  config->user_agent = std::string("kubectl-devicepool/") + HF_VERSION;
  kube::Client client(kube::NewCurlTransport(*config));
  std::stop_source stop = kube::SetupSignalHandler();

  if (a.words[0] == "status" && a.words.size() <= 2) return Status(client, a, stop.get_token());
  if (a.words[0] == "diagnose" && a.words.size() == 2) return Diagnose(client, a);
  if (a.words[0] == "test" && a.words.size() == 2) {
    bool ok = false;
    auto timeout = ParseDuration(a.timeout.empty() ? "2m" : a.timeout, &ok);
    if (!ok) return Fail("--timeout wants a duration such as 90s, 10m or 1h, got '" + a.timeout + "'", 2);
    return RunTest(client, a.words[1], a, timeout, stop.get_token());
  }
  if (a.words[0] == "rollout" && a.words.size() == 3) {
    const std::string& verb = a.words[1];
    const std::string& pool = a.words[2];
    if (verb == "pause") return RolloutPause(client, pool, true);
    if (verb == "resume") return RolloutPause(client, pool, false);
    if (verb == "history") return RolloutHistory(client, pool);
    if (verb == "undo") return RolloutUndo(client, pool, a.to_revision);
    if (verb == "status") {
      bool ok = false;
      auto timeout = ParseDuration(a.timeout.empty() ? "10m" : a.timeout, &ok);
      if (!ok) return Fail("--timeout wants a duration such as 90s, 10m or 1h, got '" + a.timeout + "'", 2);
      return RolloutStatus(client, pool, timeout, stop.get_token());
    }
  }
  std::fprintf(stderr, "kubectl-devicepool: unknown command '%s'\n\n%s", a.words[0].c_str(), kUsage);
  return 2;
}

}  // namespace
}  // namespace hf::cli

int main(int argc, char** argv) {
  // What the API server sends is read defensively; should an object still
  // hold a type no check foresaw, say so rather than abort.
  try {
    return hf::cli::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kubectl-devicepool: unexpected: %s\n", e.what());
    return 2;
  }
}
