#include "cli/diagnose.h"

#include <algorithm>
#include <set>

#include "api/device_pool.h"
#include "api/device_pool_node.h"
#include "api/names.h"
#include "api/node_claims.h"
#include "cli/status.h"
#include "kube/rest/credentials.h"
#include "kube/rest/resource.h"
#include "operator/desired.h"

namespace hf::cli {
namespace {

using Json = nlohmann::json;
using TimePoint = std::chrono::system_clock::time_point;

// How far back Warning Events count (less once the pool turned Ready).
constexpr std::chrono::hours kEventWindow{1};
// Agent log lines shown beside a crash loop.
constexpr int kLogLines = 8;

std::string Str(const Json& j, const char* pointer) {
  const Json* at = &j;
  std::string p = pointer;
  size_t pos = 1;
  while (pos <= p.size() && at != nullptr) {
    size_t next = p.find('/', pos);
    std::string key = p.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    at = at->is_object() && at->contains(key) ? &(*at)[key] : nullptr;
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  if (at == nullptr) return "";
  if (at->is_string()) return at->get<std::string>();
  if (at->is_number_integer()) return std::to_string(at->get<int64_t>());
  if (at->is_boolean()) return at->get<bool>() ? "true" : "false";
  return "";
}

int64_t Int(const Json& j, const char* pointer) {
  std::string s = Str(j, pointer);
  if (s.empty()) return 0;
  try {
    return std::stoll(s);
  } catch (...) {
    return 0;
  }
}

// The condition of `type` in obj.status.conditions, or null.
const Json* ConditionOf(const Json& obj, std::string_view type) {
  if (!obj.contains("status") || !obj["status"].contains("conditions") || !obj["status"]["conditions"].is_array()) {
    return nullptr;
  }
  for (const auto& c : obj["status"]["conditions"]) {
    if (c.is_object() && c.value("type", "") == type) return &c;
  }
  return nullptr;
}

std::string ConditionStatus(const Json& obj, std::string_view type) {
  const Json* c = ConditionOf(obj, type);
  return c == nullptr ? "" : c->value("status", "");
}

std::string Describe(const Json* c) {
  if (c == nullptr) return "absent";
  std::string s = c->value("status", "") + " (" + c->value("reason", "") + ")";
  std::string msg = c->value("message", "");
  return msg.empty() ? s : s + ": " + msg;
}

bool ParseTime(const std::string& s, TimePoint* t) { return !s.empty() && kube::ParseRfc3339(s, t); }

std::string Ago(TimePoint then, TimePoint now) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - then).count();
  if (secs < 0) secs = 0;
  if (secs < 120) return std::to_string(secs) + "s ago";
  if (secs < 7200) return std::to_string(secs / 60) + "m ago";
  return std::to_string(secs / 3600) + "h ago";
}

std::map<std::string, std::string> Labels(const Json& obj) {
  std::map<std::string, std::string> out;
  if (!obj.contains("metadata") || !obj["metadata"].contains("labels") || !obj["metadata"]["labels"].is_object()) {
    return out;
  }
  for (auto it = obj["metadata"]["labels"].begin(); it != obj["metadata"]["labels"].end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

std::string Name(const Json& obj) { return Str(obj, "/metadata/name"); }
std::string Namespace(const Json& obj) { return Str(obj, "/metadata/namespace"); }

bool Requests(const Json& pod, const std::string& resource) {
  if (!pod.contains("spec")) return false;
  for (const char* kind : {"containers", "initContainers"}) {
    if (!pod["spec"].contains(kind) || !pod["spec"][kind].is_array()) continue;
    for (const auto& c : pod["spec"][kind]) {
      if (!c.contains("resources")) continue;
      for (const char* r : {"limits", "requests"}) {
        if (c["resources"].contains(r) && c["resources"][r].is_object() && c["resources"][r].contains(resource)) {
          return true;
        }
      }
    }
  }
  return false;
}

// The agent container's status in a pod, or null.
const Json* AgentStatus(const Json& pod) {
  if (!pod.contains("status") || !pod["status"].contains("containerStatuses")) return nullptr;
  const Json& all = pod["status"]["containerStatuses"];
  if (!all.is_array()) return nullptr;
  for (const auto& c : all) {
    if (c.is_object() && c.value("name", "") == "agent") return &c;
  }
  return !all.empty() && all[0].is_object() ? &all[0] : nullptr;
}

class Checker {
 public:
  explicit Checker(const Snapshot& s) : s_(s) {}

  std::vector<Finding> Run() {
    Crds();
    Operator();
    if (!Pool()) return Sorted();
    Selector();
    Conflicts();
    DaemonSet();
    for (const auto& node : in_scope_) Node(node);
    OrphanReports();
    Workloads();
    Monitoring();
    Events();
    return Sorted();
  }

 private:
  void Add(Severity sev, std::string check, std::string subject, std::string message, std::vector<std::string> evidence,
           std::string fix) {
    out_.push_back({sev, std::move(check), std::move(subject), std::move(message), std::move(evidence), std::move(fix)});
  }

  std::vector<Finding> Sorted() {
    std::stable_sort(out_.begin(), out_.end(),
                     [](const Finding& a, const Finding& b) { return a.severity > b.severity; });
    return out_;
  }

  void Crds() {
    for (const char* plural : {"devicepools", "devicepoolnodes"}) {
      const std::string name = std::string(plural) + "." + std::string(api::kGroup);
      auto it = s_.crds.find(name);
      const std::string fix =
          "install the CRDs of this release: kubectl apply --server-side -f crds/ (or helm upgrade with "
          "crds.install=true)";
      if (it == s_.crds.end()) {
        Add(Severity::kError, "crds", "crd/" + name, "the CRD is not installed", {}, fix);
        continue;
      }
      bool served = false;
      std::vector<std::string> versions;
      if (it->second.contains("spec") && it->second["spec"].contains("versions")) {
        for (const auto& v : it->second["spec"]["versions"]) {
          if (!v.is_object()) continue;
          versions.push_back(v.value("name", "") + (v.value("served", false) ? " (served)" : " (not served)"));
          if (v.value("name", "") == kExpectedCrdVersion && v.value("served", false)) served = true;
        }
      }
      if (!served) {
        std::string list;
        for (const auto& v : versions) list += (list.empty() ? "" : ", ") + v;
        Add(Severity::kError, "crds", "crd/" + name,
            std::string("the CRD does not serve ") + kExpectedCrdVersion + ", the version the operator speaks",
            {"versions: " + (list.empty() ? "none" : list)}, fix);
      } else if (ConditionStatus(it->second, "Established") != "True") {
        Add(Severity::kError, "crds", "crd/" + name, "the CRD is not Established",
            {"Established: " + Describe(ConditionOf(it->second, "Established"))},
            "kubectl describe crd " + name + " (a NamesAccepted conflict with another CRD?)");
      }
    }
  }

  void Operator() {
    std::vector<std::string> evidence;
    std::vector<std::string> live;  // "holder in namespace"
    for (const auto& l : s_.leases) {
      const std::string holder = Str(l, "/spec/holderIdentity");
      TimePoint renew;
      const bool renewed = ParseTime(Str(l, "/spec/renewTime"), &renew);
      const int64_t duration = Int(l, "/spec/leaseDurationSeconds");
      const std::string where = "lease/" + Name(l) + " in " + Namespace(l);
      if (holder.empty()) {
        evidence.push_back(where + ": released, no holder");
      } else if (!renewed || renew + std::chrono::seconds(duration) < s_.now) {
        evidence.push_back(where + ": held by " + holder + ", last renewed " +
                           (renewed ? Ago(renew, s_.now) : "never") + ", lease " + std::to_string(duration) + "s");
      } else {
        live.push_back(holder + " in " + Namespace(l));
      }
    }
    int available = 0;
    for (const auto& d : s_.deployments) {
      const int64_t want = Int(d, "/spec/replicas");
      const int64_t have = Int(d, "/status/availableReplicas");
      available += static_cast<int>(have);
      const std::string where = "deployment/" + Name(d) + " in " + Namespace(d);
      evidence.push_back(where + ": " + std::to_string(have) + "/" + std::to_string(want) + " available");
      if (have < want) {
        Add(Severity::kWarning, "operator", where,
            "the operator Deployment has " + std::to_string(have) + " of " + std::to_string(want) +
                " replicas available",
            {"Available: " + Describe(ConditionOf(d, "Available")),
             "Progressing: " + Describe(ConditionOf(d, "Progressing"))},
            "kubectl -n " + Namespace(d) + " describe deployment " + Name(d) + "; kubectl -n " + Namespace(d) +
                " logs deployment/" + Name(d));
      }
    }
    if (live.size() > 1) {
      Add(Severity::kError, "operator", "lease/" + std::string(kOperatorLeaseName),
          "more than one operator is running: each reconciles every DevicePool and they undo each other", live,
          "uninstall all releases but one: helm list -A");
    } else if (live.empty() && !s_.leases.empty()) {
      Add(Severity::kError, "operator", "lease/" + std::string(kOperatorLeaseName),
          "no operator is running: no one holds the leader Lease, so no pool is reconciled and its status is not "
          "updated",
          evidence,
          "kubectl -n " + Namespace(s_.leases[0]) + " get pods -l app.kubernetes.io/name=" + kOperatorAppName +
              "; kubectl -n " + Namespace(s_.leases[0]) + " logs deployment/<release> (or start the operator)");
    } else if (live.empty() && available == 0) {
      // An operator run by hand without --leader-elect leaves no trace to tell.
      Add(Severity::kWarning, "operator", "devicepool-operator",
          "no operator seen: there is no leader Lease and no available operator Deployment", evidence,
          "helm install the chart (charts/hashfoundry-device-operator); an operator run by hand shows here "
          "with --leader-elect=true");
    }
  }

  bool Pool() {
    for (const auto& p : s_.pools) {
      if (Name(p) == s_.pool) pool_json_ = &p;
    }
    const std::string subject = "devicepool/" + s_.pool;
    if (pool_json_ == nullptr) {
      std::vector<std::string> names;
      for (const auto& p : s_.pools) names.push_back(Name(p));
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      Add(Severity::kError, "pool", subject, "there is no such DevicePool",
          {"pools: " + (list.empty() ? "none" : list)}, "kubectl get devicepools");
      return false;
    }
    const Json& p = *pool_json_;
    auto decoded = api::DecodeDevicePool(p);
    if (decoded.ok()) pool_ = *decoded;
    const int64_t generation = Int(p, "/metadata/generation");
    const int64_t observed = Int(p, "/status/observedGeneration");
    if (observed < generation) {
      Add(Severity::kWarning, "pool", subject,
          "the status is behind the spec: the operator has not acted on generation " + std::to_string(generation),
          {"metadata.generation " + std::to_string(generation) + ", status.observedGeneration " +
           std::to_string(observed)},
          "see the operator finding above, or the operator's log");
    }
    if (ConditionStatus(p, api::kConditionInvalid) == "True" || !decoded.ok()) {
      std::vector<std::string> ev{"Invalid: " + Describe(ConditionOf(p, api::kConditionInvalid))};
      if (!decoded.ok()) ev.push_back("decoding the spec: " + decoded.status().ToString());
      Add(Severity::kError, "pool", subject, "the spec cannot be run", ev,
          "fix the field the message names: kubectl edit devicepool " + s_.pool);
      if (!decoded.ok()) return false;
    }
    const Json* ready = ConditionOf(p, api::kConditionReady);
    if (ready == nullptr || ready->value("status", "") != "True") {
      std::vector<std::string> ev{"Ready: " + Describe(ready)};
      if (ConditionStatus(p, api::kConditionDegraded) == "True") {
        ev.push_back("Degraded: " + Describe(ConditionOf(p, api::kConditionDegraded)));
      }
      Add(Severity::kError, "pool", subject, "the pool is not Ready", ev,
          "the other findings say why; kubectl devicepool status " + s_.pool);
    } else {
      ParseTime(ready->value("lastTransitionTime", ""), &ready_since_);
      if (ConditionStatus(p, api::kConditionDegraded) == "True") {
        Add(Severity::kWarning, "pool", subject, "the pool is Degraded",
            {"Degraded: " + Describe(ConditionOf(p, api::kConditionDegraded))},
            "the findings below say which nodes; kubectl devicepool status " + s_.pool);
      }
    }
    return true;
  }

  void Selector() {
    for (const auto& n : s_.nodes) {
      if (pool_.spec.node_selector.Matches(Labels(n))) matched_.insert(Name(n));
    }
    const std::string subject = "devicepool/" + s_.pool;
    const std::string selector = pool_.spec.node_selector.ToSelectorString();
    if (matched_.empty()) {
      Add(Severity::kError, "selector", subject, "no node matches spec.nodeSelector",
          {"selector: " + (selector.empty() ? "(every node)" : selector),
           std::to_string(s_.nodes.size()) + " nodes in the cluster"},
          selector.empty() ? "add a node" : "label the nodes that have the devices: kubectl label node NODE " +
                                                 selector.substr(0, selector.find(',')));
    }
    const std::string label = api::NodeSelectionLabel(s_.pool);
    std::vector<std::string> unlabelled;
    for (const auto& n : s_.nodes) {
      if (matched_.count(Name(n)) != 0 && Labels(n)[label] != api::kNodeSelectionLabelValue) unlabelled.push_back(Name(n));
    }
    if (!unlabelled.empty() && pool_json_ != nullptr) {
      std::string list;
      for (const auto& n : unlabelled) list += (list.empty() ? "" : ", ") + n;
      Add(Severity::kWarning, "selector", subject,
          std::to_string(unlabelled.size()) + " matching nodes do not carry " + label + "=enabled yet, so no agent runs there",
          {"nodes: " + list}, "the operator labels them; if this stays, see the operator finding or its log");
    }
  }

  // Which pool keeps each node is the operator's own choice
  // (api::ClaimNodes), so the two never disagree.
  void Conflicts() {
    const std::string subject = "devicepool/" + s_.pool;
    std::vector<api::DevicePool> decoded;
    decoded.reserve(s_.pools.size());
    for (const auto& other : s_.pools) {
      if (&other == pool_json_) continue;
      if (auto o = api::DecodeDevicePool(other); o.ok()) decoded.push_back(std::move(*o));
    }
    std::vector<const api::DevicePool*> pools{&pool_};
    for (const auto& p : decoded) pools.push_back(&p);
    std::vector<std::string> names;
    std::vector<std::map<std::string, std::string>> labels;
    names.reserve(s_.nodes.size());
    labels.reserve(s_.nodes.size());
    std::vector<api::NodeLabels> nodes;
    for (const auto& n : s_.nodes) {
      names.push_back(Name(n));
      labels.push_back(Labels(n));
      nodes.push_back({names.back(), labels.back()});
    }
    auto join = [](const std::vector<std::string>& v) {
      std::string list;
      for (const auto& n : v) list += (list.empty() ? "" : ", ") + n;
      return list;
    };
    const std::string fix = "give the pools selectors that do not overlap, or distinct resourceNames";
    std::map<std::string, std::vector<std::string>> held_by;
    for (const auto& [node, winner] : api::ClaimNodes(pool_, pools, nodes).conflicts) {
      held_.insert(node);
      held_by[winner].push_back(node);
    }
    for (const auto& [winner, held] : held_by) {
      Add(Severity::kError, "conflict", subject,
          std::to_string(held.size()) + " nodes are held by the older pool " + winner +
              ", which advertises the same resource there",
          {"both advertise " + pool_.spec.resource_name, "nodes: " + join(held)}, fix);
    }
    for (const auto& other : decoded) {
      if (other.spec.resource_name != pool_.spec.resource_name) continue;
      std::vector<std::string> kept;
      for (const auto& [node, winner] : api::ClaimNodes(other, pools, nodes).conflicts) {
        if (winner == s_.pool) kept.push_back(node);
      }
      if (kept.empty()) continue;
      Add(Severity::kWarning, "conflict", subject,
          "the newer pool " + other.metadata.name + " also selects " + std::to_string(kept.size()) +
              " of these nodes; they stay with this pool",
          {"both advertise " + pool_.spec.resource_name, "nodes: " + join(kept)}, fix);
    }
    for (const auto& n : matched_) {
      if (held_.count(n) == 0 && (s_.node.empty() || s_.node == n)) in_scope_.push_back(n);
    }
    if (!s_.node.empty() && matched_.count(s_.node) == 0) {
      Add(Severity::kError, "selector", "node " + s_.node, "the pool does not select this node",
          {"selector: " + pool_.spec.node_selector.ToSelectorString()},
          "kubectl label node " + s_.node + " with the pool's selector");
    }
  }

  void DaemonSet() {
    if (in_scope_.empty()) return;
    if (s_.daemon_sets.empty()) {
      Add(Severity::kError, "daemonset", "devicepool/" + s_.pool, "the pool has no agent DaemonSet",
          {"no DaemonSet labelled " + std::string(api::kPoolLabel) + "=" + s_.pool},
          "the operator creates it: see the operator finding, or its log");
    }
  }

  const Json* NodeObject(const std::string& name) const {
    for (const auto& n : s_.nodes) {
      if (Name(n) == name) return &n;
    }
    return nullptr;
  }

  void Node(const std::string& name) {
    const std::string subject = "node " + name;
    const Json* node = NodeObject(name);
    bool node_ready = true;
    if (node != nullptr && ConditionStatus(*node, "Ready") != "True") {
      node_ready = false;
      Add(Severity::kError, "node", subject, "the Node is not Ready: its agent cannot serve and its report is stale",
          {"Ready: " + Describe(ConditionOf(*node, "Ready"))},
          "kubectl describe node " + name + "; check the kubelet on the node");
    }

    const Json* pod = nullptr;
    for (const auto& p : s_.agent_pods) {
      if (Str(p, "/spec/nodeName") == name && Str(p, "/metadata/deletionTimestamp").empty()) pod = &p;
    }
    bool agent_running = false;
    if (pod == nullptr) {
      if (!s_.daemon_sets.empty() && node_ready) {
        Add(Severity::kError, "agent", subject, "no agent pod runs on the node", {},
            "kubectl -n " + Namespace(s_.daemon_sets[0]) + " describe daemonset " + Name(s_.daemon_sets[0]) +
                " (taints the pool does not tolerate? spec.agent.tolerations)");
      }
    } else {
      agent_running = AgentPod(subject, *pod);
    }

    const Json* report = nullptr;
    for (const auto& r : s_.reports) {
      if (Str(r, "/spec/node") == name) report = &r;
    }
    if (report == nullptr) {
      if (agent_running) {
        Add(Severity::kError, "report", subject, "the agent runs but there is no DevicePoolNode for the node",
            {"no devicepoolnode/" + api::DevicePoolNodeName(s_.pool, name)},
            "kubectl -n " + Namespace(*pod) + " logs " + Name(*pod) + " (RBAC on devicepoolnodes?)");
      }
      return;
    }
    Report(subject, *report, node, node_ready && agent_running);
  }

  // Checks one agent pod; whether it runs (Ready or not).
  bool AgentPod(const std::string& subject, const Json& pod) {
    const std::string ns = Namespace(pod), name = Name(pod);
    const Json* c = AgentStatus(pod);
    const int64_t restarts = c == nullptr ? 0 : c->value("restartCount", 0);
    const std::string waiting =
        c != nullptr && c->contains("state") && (*c)["state"].contains("waiting") ? Str(*c, "/state/waiting/reason") : "";
    const bool ready = ConditionStatus(pod, "Ready") == "True";
    if (waiting == "CrashLoopBackOff" || (restarts >= 2 && !ready)) {
      std::vector<std::string> ev{"pod " + ns + "/" + name + ": " + std::to_string(restarts) + " restarts" +
                                  (waiting.empty() ? "" : ", waiting: " + waiting)};
      if (c != nullptr && c->contains("lastState") && (*c)["lastState"].contains("terminated")) {
        std::string msg = Str(*c, "/lastState/terminated/message");
        while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
        ev.push_back("last exit: code " + Str(*c, "/lastState/terminated/exitCode") + " (" +
                     Str(*c, "/lastState/terminated/reason") + ")" + (msg.empty() ? "" : ": " + msg));
      }
      auto log = s_.agent_logs.find(name);
      if (log != s_.agent_logs.end()) {
        for (size_t start = 0; start < log->second.size();) {
          size_t end = log->second.find('\n', start);
          if (end == std::string::npos) end = log->second.size();
          if (end > start) ev.push_back("log: " + log->second.substr(start, end - start));
          start = end + 1;
        }
      }
      Add(Severity::kError, "agent", subject, "the agent crash-loops", ev,
          "fix what the last exit says (often a spec field: kubectl edit devicepool " + s_.pool +
              "); kubectl -n " + ns + " logs " + name + " --previous");
      return false;
    }
    const std::string phase = Str(pod, "/status/phase");
    if (phase != "Running") {
      Add(Severity::kError, "agent", subject, "the agent pod is " + (phase.empty() ? "not running" : phase),
          {"pod " + ns + "/" + name + (waiting.empty() ? "" : ": waiting: " + waiting)},
          "kubectl -n " + ns + " describe pod " + name);
      return false;
    }
    if (!ready) {
      Add(Severity::kWarning, "agent", subject, "the agent pod is not Ready",
          {"pod " + ns + "/" + name + ": Ready " + Describe(ConditionOf(pod, "Ready"))},
          "kubectl -n " + ns + " logs " + name + " (its readiness is the kubelet registration)");
    }
    return true;
  }

  void Report(const std::string& subject, const Json& report, const Json* node, bool live) {
    auto r = api::DecodeDevicePoolNode(report);
    if (!r.ok()) {
      Add(Severity::kWarning, "report", subject, "the report does not decode", {r.status().ToString()},
          "the agent rewrites it; if it stays, kubectl delete devicepoolnode " + Name(report));
      return;
    }
    const auto& st = r->status;
    const std::string& resource = pool_.spec.resource_name;
    std::vector<std::string> unhealthy;
    for (const auto& d : st.devices) {
      if (d.health == api::DeviceHealth::kUnhealthy) unhealthy.push_back(d.id + (d.path.empty() ? "" : " (" + d.path + ")"));
    }
    const std::string counts = "report: " + std::to_string(st.counts.total) + " devices, " +
                               std::to_string(st.counts.healthy) + " healthy, " + std::to_string(st.counts.allocated) +
                               " allocated, registered " + (st.registered ? "yes" : "no");
    if (node == nullptr) {
      Add(Severity::kWarning, "report", subject, "the report is about a Node that no longer exists", {counts},
          "the operator removes it; if it stays, see the operator finding");
      return;
    }
    if (!live) {
      if (st.registered && st.counts.healthy > 0) {
        Add(Severity::kWarning, "report", subject,
            "the report is stale: it still says registered with healthy devices, but its node or agent is down",
            {counts}, "see the node's other findings");
      }
      return;
    }
    const NodeFacts facts = NodeFactsOf(*node, resource);
    const auto& capacity = facts.capacity;
    const auto& allocatable = facts.allocatable;
    auto figure = [](const std::optional<int64_t>& v) { return v ? std::to_string(*v) : std::string("absent"); };
    const std::string node_says =
        "Node: capacity " + figure(capacity) + ", allocatable " + figure(allocatable) + " of " + resource;
    // A DRA agent's devices are in ResourceSlices, not in the Node's
    // capacity, and its registration is the kubelet's plugin registration.
    // (While a pool switches, nodes the rollout has not reached yet still
    // serve the device plugin; their Node figures are not checked then.)
    const bool dra = pool_.spec.allocation_api == api::AllocationApi::kDra;
    if (!st.registered && dra) {
      Add(Severity::kError, "report", subject, "the kubelet has not registered the agent's DRA driver", {counts},
          "check the kubelet's plugins and plugins_registry directories are mounted into the agent, and the agent's "
          "log");
    } else if (!st.registered) {
      Add(Severity::kError, "report", subject, "the agent is not registered with the kubelet", {counts, node_says},
          "check the kubelet's device-plugins directory is mounted into the agent, and the agent's log");
    } else if (dra) {
      // Nothing on the Node to compare with.
    } else if (st.counts.healthy > 0 && allocatable.value_or(0) <= 0) {
      Add(Severity::kError, "report", subject,
          "the agent says it is registered with " + std::to_string(st.counts.healthy) +
              " healthy devices, but the kubelet lists none: the kubelet lost the registration (restarted?) and the "
              "agent has not registered again",
          {counts, node_says},
          "delete the agent pod so it registers afresh: kubectl delete pod -n <ns> -l " + std::string(api::kPoolLabel) +
              "=" + s_.pool + " --field-selector spec.nodeName=" + Str(*node, "/metadata/name"));
    } else if (capacity && *capacity != st.counts.total) {
      Add(Severity::kWarning, "report", subject,
          "the Node's capacity differs from the agent's report (it may be catching up)", {counts, node_says},
          "wait a few seconds; if it stays, restart the agent pod");
    }
    if (st.counts.total == 0) {
      Add(Severity::kWarning, "report", subject, "the agent found no devices on the node", {counts},
          "check spec.discovery against the node's /dev and /sys");
    } else if (!unhealthy.empty()) {
      std::string list;
      for (const auto& u : unhealthy) list += (list.empty() ? "" : ", ") + u;
      const bool none = st.counts.healthy == 0;
      Add(none ? Severity::kError : Severity::kWarning, "report", subject,
          none ? "every device on the node is unhealthy"
               : std::to_string(unhealthy.size()) + " devices are unhealthy and not allocatable",
          {counts, "unhealthy: " + list},
          "check the devices on the node (removed? driver?); they return when the health check passes");
    }
  }

  void OrphanReports() {
    if (!s_.node.empty()) return;
    for (const auto& r : s_.reports) {
      const std::string node = Str(r, "/spec/node");
      if (matched_.count(node) != 0 || held_.count(node) != 0 || NodeObject(node) == nullptr) continue;
      Add(Severity::kWarning, "report", "node " + node, "a report remains for a node the pool no longer selects",
          {"devicepoolnode/" + Name(r)}, "the operator removes it; if it stays, see the operator finding");
    }
  }

  void Workloads() {
    std::vector<std::string> waiting;
    std::string why;
    for (const auto& p : s_.pending_pods) {
      if (!Requests(p, pool_.spec.resource_name)) continue;
      waiting.push_back(Namespace(p) + "/" + Name(p));
      const Json* sched = ConditionOf(p, "PodScheduled");
      if (why.empty() && sched != nullptr && sched->value("status", "") == "False") why = sched->value("message", "");
    }
    if (waiting.empty()) return;
    std::vector<std::string> ev;
    for (size_t i = 0; i < waiting.size() && i < 5; ++i) ev.push_back("pending: " + waiting[i]);
    if (waiting.size() > 5) ev.push_back("and " + std::to_string(waiting.size() - 5) + " more");
    if (!why.empty()) ev.push_back("scheduler: " + why);
    Add(Severity::kWarning, "workloads", "devicepool/" + s_.pool,
        std::to_string(waiting.size()) + " pods wait for " + pool_.spec.resource_name, ev,
        "more healthy devices (see the report findings), or fewer requests");
  }

  void Monitoring() {
    const auto& m = pool_.spec.monitoring;
    struct Want {
      bool enabled;
      const char* crd;
      const char* what;
    };
    for (const Want& w : {Want{m.service_monitor.enabled, "servicemonitors.monitoring.coreos.com", "ServiceMonitor"},
                          Want{m.prometheus_rule.enabled, "prometheusrules.monitoring.coreos.com", "PrometheusRule"}}) {
      if (!w.enabled || s_.crds.count(w.crd) != 0) continue;
      Add(Severity::kWarning, "monitoring", "devicepool/" + s_.pool,
          std::string("the pool wants a ") + w.what + ", but its CRD is not served, so nothing scrapes or alerts",
          {std::string("no crd/") + w.crd,
           "MonitoringAvailable: " + Describe(ConditionOf(*pool_json_, api::kConditionMonitoringAvailable))},
          "install the Prometheus Operator's CRDs, or set spec.monitoring." +
              std::string(w.what == std::string("ServiceMonitor") ? "serviceMonitor" : "prometheusRule") +
              ".enabled=false");
    }
  }

  void Events() {
    TimePoint since = s_.now - kEventWindow;
    if (ready_since_ > since) since = ready_since_;
    std::set<std::string> uids{Str(*pool_json_, "/metadata/uid")};
    std::set<std::pair<std::string, std::string>> named{{"DevicePool", s_.pool}};
    for (const auto& n : in_scope_) {
      named.insert({"Node", n});
      if (const Json* node = NodeObject(n)) uids.insert(Str(*node, "/metadata/uid"));
    }
    for (const auto* list : {&s_.reports, &s_.daemon_sets, &s_.agent_pods}) {
      for (const auto& o : *list) uids.insert(Str(o, "/metadata/uid"));
    }
    struct Seen {
      std::string note;
      int64_t count = 0;
      TimePoint last;
    };
    std::map<std::string, Seen> grouped;  // "Kind/name: Reason"
    for (const auto& e : s_.events) {
      if (Str(e, "/type") != "Warning") continue;
      const std::string kind = Str(e, "/regarding/kind"), name = Str(e, "/regarding/name"), uid = Str(e, "/regarding/uid");
      // By uid where the Event has one, so an earlier pool of the same name does not count.
      const bool ours = uid.empty() ? named.count({kind, name}) != 0 : uids.count(uid) != 0;
      if (!ours) continue;
      TimePoint when;
      if (!ParseTime(Str(e, "/series/lastObservedTime"), &when) && !ParseTime(Str(e, "/eventTime"), &when) &&
          !ParseTime(Str(e, "/deprecatedLastTimestamp"), &when) && !ParseTime(Str(e, "/metadata/creationTimestamp"), &when)) {
        continue;
      }
      if (when < since) continue;
      int64_t count = std::max<int64_t>({1, Int(e, "/series/count"), Int(e, "/deprecatedCount")});
      Seen& g = grouped[kind + "/" + name + ": " + Str(e, "/reason")];
      g.count += count;
      if (when >= g.last) {
        g.last = when;
        g.note = Str(e, "/note");
      }
    }
    for (const auto& [key, g] : grouped) {
      Add(Severity::kWarning, "events", key.substr(0, key.find(": ")),
          "Warning " + key.substr(key.find(": ") + 2) + ": " + g.note,
          {std::to_string(g.count) + " times, last " + Ago(g.last, s_.now)},
          "kubectl get events -A --field-selector type=Warning");
    }
  }

  const Snapshot& s_;
  std::vector<Finding> out_;
  const Json* pool_json_ = nullptr;
  api::DevicePool pool_;
  TimePoint ready_since_{};
  std::set<std::string> matched_, held_;
  std::vector<std::string> in_scope_;
};

kube::StatusOr<std::vector<Json>> ListAll(kube::Client& client, const kube::GroupVersionResource& gvr,
                                          const std::string& labels, const std::string& fields) {
  kube::ListOptions o;
  o.label_selector = labels;
  o.field_selector = fields;
  o.limit = 500;
  std::vector<Json> out;
  std::string rv;
  auto st = client.ListEach(gvr, "", o, [&](Json&& item) { out.push_back(std::move(item)); }, &rv);
  if (!st.ok()) return st;
  return out;
}

const char* SeverityName(Severity s) { return s == Severity::kError ? "error" : "warning"; }

}  // namespace

std::vector<Finding> Diagnose(const Snapshot& s) { return Checker(s).Run(); }

int ExitCode(const std::vector<Finding>& findings) {
  int code = 0;
  for (const auto& f : findings) code = std::max(code, f.severity == Severity::kError ? 2 : 1);
  return code;
}

kube::StatusOr<Snapshot> GatherSnapshot(kube::Client& client, const std::string& pool, const std::string& node) {
  Snapshot s;
  s.pool = pool;
  s.node = node;
  s.now = std::chrono::system_clock::now();
  for (const std::string name : {"devicepools.hashfoundry.com", "devicepoolnodes.hashfoundry.com",
                                 "servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com"}) {
    auto crd = client.Get(kube::resources::CustomResourceDefinitions(), "", name);
    if (crd.ok()) {
      s.crds[name] = std::move(*crd);
    } else if (crd.status().reason() != kube::Reason::kNotFound) {
      return crd.status();
    }
  }
#define HF_LIST(dst, gvr, labels, fields)          \
  do {                                              \
    auto l = ListAll(client, gvr, labels, fields);  \
    if (!l.ok()) return l.status();                 \
    dst = std::move(*l);                            \
  } while (0)
  HF_LIST(s.leases, kube::resources::Leases(), "", std::string("metadata.name=") + kOperatorLeaseName);
  HF_LIST(s.deployments, kube::resources::Deployments(), std::string("app.kubernetes.io/name=") + kOperatorAppName, "");
  HF_LIST(s.nodes, kube::resources::Nodes(), "", "");
  HF_LIST(s.pending_pods, kube::resources::Pods(), "", "status.phase=Pending");
  HF_LIST(s.events, kube::resources::Events(), "", "type=Warning");
  if (s.crds.count("devicepools.hashfoundry.com") == 0) return s;
  HF_LIST(s.pools, api::DevicePools(), "", "");
  const std::string of_pool = std::string(api::kPoolLabel) + "=" + pool;
  if (s.crds.count("devicepoolnodes.hashfoundry.com") != 0) HF_LIST(s.reports, api::DevicePoolNodes(), of_pool, "");
  HF_LIST(s.daemon_sets, kube::resources::DaemonSets(), of_pool, "");
  HF_LIST(s.agent_pods, kube::resources::Pods(),
          std::string("app.kubernetes.io/name=") + std::string(api::kAgentName) + "," + of_pool, "");
#undef HF_LIST
  // The last lines of each restarted agent's log: of the run that ended
  // last while the container waits to restart, else of the one before.
  for (const auto& p : s.agent_pods) {
    const Json* c = AgentStatus(p);
    if (c == nullptr || c->value("restartCount", 0) == 0) continue;
    if (!node.empty() && Str(p, "/spec/nodeName") != node) continue;
    const bool waiting = c->contains("state") && (*c)["state"].contains("waiting");
    const std::string path = "/api/v1/namespaces/" + Namespace(p) + "/pods/" + Name(p) +
                             "/log?container=" + c->value("name", "agent") + "&tailLines=" + std::to_string(kLogLines);
    auto log = client.GetText(path + (waiting ? "" : "&previous=true"));
    if ((!log.ok() || log->empty()) && waiting) log = client.GetText(path + "&previous=true");
    if (!log.ok()) {
      s.agent_logs[Name(p)] = "(unavailable: " + log.status().ToString() + ")";
    } else if (!log->empty()) {
      s.agent_logs[Name(p)] = std::move(*log);
    }
  }
  return s;
}

std::string RenderFindings(const Snapshot& s, const std::vector<Finding>& findings, bool color) {
  auto paint = [&](const char* code, const std::string& text) {
    return color ? std::string("\033[") + code + "m" + text + "\033[0m" : text;
  };
  int errors = 0, warnings = 0;
  for (const auto& f : findings) (f.severity == Severity::kError ? errors : warnings)++;
  std::string scope = "devicepool/" + s.pool + (s.node.empty() ? "" : ", node " + s.node);
  std::string out;
  if (findings.empty()) {
    std::string leader;
    for (const auto& l : s.leases) {
      const std::string holder = Str(l, "/spec/holderIdentity");
      TimePoint renew;
      if (!holder.empty() && ParseTime(Str(l, "/spec/renewTime"), &renew) &&
          renew + std::chrono::seconds(Int(l, "/spec/leaseDurationSeconds")) >= s.now) {
        leader = " (leader " + holder + " in " + Namespace(l) + ")";
      }
    }
    out += scope + ": no problems found\n";
    out += "  checked: CRDs, operator" + leader + ", conditions, selector (" + std::to_string(s.nodes.size()) +
           " nodes), conflicts, DaemonSet, " + std::to_string(s.agent_pods.size()) + " agent pods, " +
           std::to_string(s.reports.size()) + " reports against their Nodes, pending pods, monitoring, Warning Events\n";
    return out;
  }
  out += scope + ": " + std::to_string(errors) + (errors == 1 ? " error, " : " errors, ") + std::to_string(warnings) +
         (warnings == 1 ? " warning\n" : " warnings\n");
  for (const auto& f : findings) {
    std::string label = f.severity == Severity::kError ? "ERROR  " : "WARNING";
    out += "\n" + paint(f.severity == Severity::kError ? "31" : "33", label) + " [" + f.check + "] " + f.subject +
           ": " + f.message + "\n";
    for (const auto& e : f.evidence) out += "          " + e + "\n";
    if (!f.fix.empty()) out += "  fix:    " + f.fix + "\n";
  }
  return out;
}

nlohmann::json FindingsJson(const Snapshot& s, const std::vector<Finding>& findings) {
  Json list = Json::array();
  for (const auto& f : findings) {
    list.push_back({{"severity", SeverityName(f.severity)},
                    {"check", f.check},
                    {"subject", f.subject},
                    {"message", f.message},
                    {"evidence", f.evidence},
                    {"fix", f.fix}});
  }
  return {{"pool", s.pool}, {"node", s.node}, {"exitCode", ExitCode(findings)}, {"findings", list}};
}

}  // namespace hf::cli
