#include "api/device_pool.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <utility>

#include "api/json_field.h"
#include "api/names.h"

namespace hf::api {
namespace {

using internal::Field;

template <typename T, typename U>
void Assign(std::optional<U> v, T* out) {
  if (v) *out = static_cast<T>(std::move(*v));
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHexDigit(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

bool AllOf(std::string_view s, bool (*pred)(char)) { return std::all_of(s.begin(), s.end(), pred); }

// Splits on `sep`, keeping empty parts.
std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    size_t end = s.find(sep, start);
    parts.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// The image reference grammar of distribution/reference, which the kubelet
// parses images with. path-component: [a-z0-9]+ joined by '.', '_', '__' or
// runs of '-'.
bool IsPathComponent(std::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (size_t i = 0; i < s.size();) {
    if (IsLowerAlnum(s[i])) {
      ++i;
      continue;
    }
    size_t start = i;
    while (i < s.size() && s[i] == '-') ++i;
    if (i == start) {  // '.', '_' or '__'
      if (s[i] == '.') {
        ++i;
      } else if (s[i] == '_') {
        i += s.substr(i, 2) == "__" ? 2 : 1;
      } else {
        return false;
      }
    }
    if (i >= s.size() || !IsLowerAlnum(s[i])) return false;
  }
  return true;
}

// ([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]) joined by dots, or an
// IPv6 address in brackets; then an optional :port.
bool IsRegistryDomain(std::string_view s) {
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    std::string_view ip = s.substr(1, close - 1);
    if (!std::all_of(ip.begin(), ip.end(), [](char c) { return IsHexDigit(c) || c == ':'; })) return false;
    port = s.substr(close + 1);
  } else {
    size_t colon = s.find(':');
    for (std::string_view label : Split(s.substr(0, colon), '.')) {
      if (label.empty() || !IsAlnum(label.front()) || !IsAlnum(label.back())) return false;
      if (!std::all_of(label.begin(), label.end(), [](char c) { return IsAlnum(c) || c == '-'; })) return false;
    }
    if (colon != std::string_view::npos) port = s.substr(colon);
  }
  return port.empty() || (port.size() > 1 && port.front() == ':' && AllOf(port.substr(1), IsDigit));
}

// [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
bool IsTag(std::string_view s) {
  if (s.empty() || s.size() > 128 || s.front() == '.' || s.front() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return IsAlnum(c) || c == '_' || c == '.' || c == '-'; });
}

// algorithm ':' hex, algorithm being [A-Za-z][A-Za-z0-9]* joined by one of
// -_+. and hex at least 32 hexadecimal digits.
bool IsDigest(std::string_view s) {
  size_t colon = s.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view algorithm = s.substr(0, colon);
  std::string_view hex = s.substr(colon + 1);
  if (hex.size() < 32 || !AllOf(hex, IsHexDigit)) return false;
  bool component_start = true;
  for (char c : algorithm) {
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (component_start) {
      if (!alpha) return false;
      component_start = false;
    } else if (c == '-' || c == '_' || c == '+' || c == '.') {
      component_start = true;
    } else if (!IsAlnum(c)) {
      return false;
    }
  }
  return !component_start;
}

bool IsHex4(std::string_view s) {
  return s.size() == 4 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c)) != 0;
         });
}

// Zero means "at once" for an alert's "for", but no interval can be zero.
enum class Zero { kAllowed, kRefused };

void DecodeDuration(const Field& f, std::string* out, Zero zero) {
  std::optional<std::string> s = f.String();
  if (!s) return;
  std::optional<std::chrono::milliseconds> d = ParseDuration(*s);
  if (!d) {
    f.Invalid("\"" + s->substr(0, 64) + "\" is not a duration such as 30s, 5m or 1h30m (units ms, s, m, h)");
    return;
  }
  if (zero == Zero::kRefused && d->count() == 0) {
    f.Invalid("must be above 0, e.g. 30s");
    return;
  }
  *out = std::move(*s);
}

int DecodeCount(const Field& f) { return static_cast<int>(f.Int(0, INT_MAX).value_or(0)); }

Discovery DecodeDiscovery(const Field& f) {
  if (!f.Require() || !f.IsObject()) return {};
  int methods = 0;
  std::string found;
  for (const char* method : {"simulated", "paths", "pci"}) {
    if (!f[method].present()) continue;
    found += (methods++ > 0 ? ", " : "") + std::string(method);
  }
  if (methods != 1) {
    f.Invalid("exactly one of simulated, paths or pci must be set" + (methods > 1 ? " (found " + found + ")" : ""));
    return {};
  }
  if (Field sim = f["simulated"]; sim.present()) {
    SimulatedDiscovery d;
    if (!sim.IsObject()) return d;
    Assign(sim["count"].Int(1, 1024), &d.count);
    if (std::optional<std::string> prefix = sim["prefix"].String()) {
      if (prefix->size() > 63 || !IsDnsLabel(*prefix)) {
        sim["prefix"].Invalid("must be a DNS label: at most 63 lower-case letters, digits and '-'");
      } else {
        d.prefix = std::move(*prefix);
      }
    }
    return d;
  }
  if (Field paths = f["paths"]; paths.present()) {
    PathsDiscovery d;
    if (!paths.IsObject() || !paths["globs"].Require()) return d;
    for (const Field& glob : paths["globs"].Items()) {
      std::optional<std::string> g = glob.String();
      if (!g) continue;
      if (kube::Status st = ValidateDeviceGlob(*g); !st.ok()) {
        glob.Invalid(st.message());
        continue;
      }
      d.globs.push_back(std::move(*g));
    }
    if (d.globs.empty() && paths["globs"].json() != nullptr && paths["globs"].json()->is_array()) {
      paths["globs"].Invalid("must have at least one glob");
    }
    return d;
  }
  Field pci = f["pci"];
  PciDiscovery d;
  if (!pci.IsObject()) return d;
  if (pci["vendor"].Require()) {
    if (std::optional<std::string> vendor = pci["vendor"].String()) {
      if (IsHex4(*vendor)) {
        d.vendor = std::move(*vendor);
      } else {
        pci["vendor"].Invalid("must be 4 hexadecimal digits without 0x, e.g. 10de");
      }
    }
  }
  for (const Field& device : pci["devices"].Items()) {
    std::optional<std::string> id = device.String();
    if (!id) continue;
    if (IsHex4(*id)) {
      d.devices.push_back(std::move(*id));
    } else {
      device.Invalid("must be 4 hexadecimal digits without 0x, e.g. 2330");
    }
  }
  return d;
}

std::map<std::string, std::string> DecodeQuantities(const Field& f) {
  std::map<std::string, std::string> out;
  for (const auto& [name, q] : f.Members()) {
    if (!q.present()) continue;
    if (q.json()->is_number_integer()) {
      out.emplace(name, q.json()->dump());
    } else if (std::optional<std::string> s = q.String(); s && !s->empty()) {
      out.emplace(name, std::move(*s));
    } else if (s) {
      q.Invalid("must be a quantity such as 100m or 128Mi");
    }
  }
  return out;
}

Toleration DecodeToleration(const Field& f) {
  Toleration t;
  if (!f.IsObject()) return t;
  Assign(f["key"].String(), &t.key);
  if (kube::Status st = ValidateLabelKey(t.key); !t.key.empty() && !st.ok()) f["key"].Invalid(st.message());
  Assign(f["operator"].Enum<std::string_view>({{"Exists", "Exists"}, {"Equal", "Equal"}}), &t.op);
  Assign(f["value"].String(), &t.value);
  Assign(f["effect"].Enum<std::string_view>(
             {{"NoSchedule", "NoSchedule"}, {"PreferNoSchedule", "PreferNoSchedule"}, {"NoExecute", "NoExecute"}}),
         &t.effect);
  t.toleration_seconds = f["tolerationSeconds"].Int();
  // The same rules core validation applies to a pod's tolerations, so the
  // DaemonSet built from them is accepted.
  if (t.op == "Exists" && !t.value.empty()) f.Invalid("a toleration's value must be empty when its operator is Exists");
  if (kube::Status st = ValidateLabelValue(t.value); t.op != "Exists" && !st.ok()) f["value"].Invalid(st.message());
  if (t.key.empty() && t.op != "Exists") f.Invalid("a toleration without a key must have operator Exists");
  if (t.toleration_seconds && t.effect != "NoExecute") {
    f.Invalid("a toleration's tolerationSeconds needs effect NoExecute");
  }
  return t;
}

AgentSpec DecodeAgent(const Field& f) {
  AgentSpec a;
  if (!f.IsObject()) return a;
  a.image = f["image"].String();
  if (kube::Status st = a.image ? ValidateImageReference(*a.image) : kube::Status::Ok(); !st.ok()) {
    f["image"].Invalid(st.message());
  }
  a.image_pull_policy = f["imagePullPolicy"].Enum<PullPolicy>(
      {{"Always", PullPolicy::kAlways}, {"IfNotPresent", PullPolicy::kIfNotPresent}, {"Never", PullPolicy::kNever}});
  for (const Field& secret : f["imagePullSecrets"].Items()) {
    if (!secret.IsObject() || !secret["name"].Require()) continue;
    if (std::optional<std::string> name = secret["name"].String()) a.image_pull_secrets.push_back(std::move(*name));
  }
  if (Field r = f["resources"]; r.IsObject()) {
    a.resources.limits = DecodeQuantities(r["limits"]);
    a.resources.requests = DecodeQuantities(r["requests"]);
  }
  for (const Field& t : f["tolerations"].Items()) a.tolerations.push_back(DecodeToleration(t));
  a.priority_class_name = f["priorityClassName"].String();
  if (a.priority_class_name && !IsDnsSubdomain(*a.priority_class_name)) {
    f["priorityClassName"].Invalid(
        "must be a PriorityClass name: a lower-case DNS subdomain, e.g. system-node-critical");
  }
  Assign(f["logLevel"].Enum<LogLevel>({{"debug", LogLevel::kDebug},
                                        {"info", LogLevel::kInfo},
                                        {"warn", LogLevel::kWarn},
                                        {"error", LogLevel::kError}}),
         &a.log_level);
  return a;
}

// A positive node count or a percentage. The API server refuses a DaemonSet
// whose maxUnavailable is 0 (without maxSurge), and a managed rollout needs
// room for one node at least, in its canary and in each wave.
void DecodeIntOrPercent(const Field& f, IntOrPercent* out) {
  if (!f.present()) return;
  constexpr char kWhat[] = "must be a positive integer or a percentage from 1% to 100%";
  if (!f.json()->is_string()) {
    std::optional<int64_t> n = f.json()->is_number() ? f.Int() : std::nullopt;
    if (n && *n >= 1) {
      *out = {*n, false};
    } else if (f.json()->is_number_integer() || !f.json()->is_number()) {
      f.Invalid(kWhat);  // Int() has already complained about a fraction
    }
    return;
  }
  std::string s = f.json()->get<std::string>();
  std::string_view digits(s);
  bool percent = !digits.empty() && digits.back() == '%';
  if (percent) digits.remove_suffix(1);
  // As the CRD's ^(100|[1-9][0-9]?)%$: no sign, no leading zero, not 0%.
  bool numeric = !digits.empty() && digits.size() <= 3 && (digits.size() == 1 || digits[0] != '0') &&
                 std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
  int64_t value = numeric ? std::stoll(std::string(digits)) : -1;
  if (!percent || !numeric || value < 1 || value > 100) {
    f.Invalid(kWhat);
    return;
  }
  *out = {value, true};
}

MonitoringSpec DecodeMonitoring(const Field& f) {
  MonitoringSpec m;
  if (!f.IsObject()) return m;
  if (Field sm = f["serviceMonitor"]; sm.IsObject()) {
    Assign(sm["enabled"].Bool(), &m.service_monitor.enabled);
    DecodeDuration(sm["interval"], &m.service_monitor.interval, Zero::kRefused);
    m.service_monitor.labels = internal::DecodeLabels(sm["labels"]);
  }
  if (Field pr = f["prometheusRule"]; pr.IsObject()) {
    PrometheusRuleSpec& p = m.prometheus_rule;
    Assign(pr["enabled"].Bool(), &p.enabled);
    p.labels = internal::DecodeLabels(pr["labels"]);
    DecodeDuration(pr["pluginDownFor"], &p.plugin_down_for, Zero::kAllowed);
    DecodeDuration(pr["unhealthyFor"], &p.unhealthy_for, Zero::kAllowed);
    Assign(pr["allocationHighRatio"].Number(0, 1), &p.allocation_high_ratio);
    DecodeDuration(pr["allocationHighFor"], &p.allocation_high_for, Zero::kAllowed);
  }
  return m;
}

DevicePoolSpec DecodeSpec(const Field& f) {
  DevicePoolSpec s;
  if (!f.Require() || !f.IsObject()) return s;
  if (Field rn = f["resourceName"]; rn.Require()) {
    if (std::optional<std::string> name = rn.String()) {
      if (kube::Status st = ValidateResourceName(*name); !st.ok()) rn.Invalid(st.message());
      s.resource_name = std::move(*name);
    }
  }
  Assign(f["allocationAPI"].Enum<AllocationApi>(
             {{"DevicePlugin", AllocationApi::kDevicePlugin}, {"DRA", AllocationApi::kDra}}),
         &s.allocation_api);
  s.node_selector = internal::DecodeLabelSelector(f["nodeSelector"]);
  s.discovery = DecodeDiscovery(f["discovery"]);
  if (Field sharing = f["sharing"]; sharing.IsObject()) Assign(sharing["replicas"].Int(1, 64), &s.sharing.replicas);
  if (Field allocation = f["allocation"]; allocation.IsObject()) {
    Assign(allocation["policy"].Enum<AllocationPolicy>({{"packed", AllocationPolicy::kPacked},
                                                         {"balanced", AllocationPolicy::kBalanced},
                                                         {"none", AllocationPolicy::kNone}}),
           &s.allocation.policy);
  }
  if (Field health = f["health"]; health.IsObject()) {
    DecodeDuration(health["interval"], &s.health.interval, Zero::kRefused);
  }
  if (Field cdi = f["cdi"]; cdi.IsObject()) Assign(cdi["enabled"].Bool(), &s.cdi.enabled);
  s.agent = DecodeAgent(f["agent"]);
  if (Field rollout = f["rollout"]; rollout.IsObject()) {
    RolloutSpec& r = s.rollout;
    Assign(rollout["strategy"].Enum<RolloutStrategy>(
               {{"Managed", RolloutStrategy::kManaged}, {"RollingUpdate", RolloutStrategy::kRollingUpdate}}),
           &r.strategy);
    if (Field canary = rollout["canary"]; canary.IsObject()) {
      DecodeIntOrPercent(canary["nodes"], &r.canary.nodes);
      DecodeDuration(canary["bakeTime"], &r.canary.bake_time, Zero::kAllowed);
    }
    DecodeIntOrPercent(rollout["maxUnavailable"], &r.max_unavailable);
    DecodeDuration(rollout["progressDeadline"], &r.progress_deadline, Zero::kRefused);
    Assign(rollout["autoRollback"].Bool(), &r.auto_rollback);
    Assign(rollout["paused"].Bool(), &r.paused);
  }
  s.monitoring = DecodeMonitoring(f["monitoring"]);
  return s;
}

// Leniently, as the rest of the status: the operator wrote it.
RolloutStatus DecodeRolloutStatus(const Field& f) {
  RolloutStatus r;
  if (!f.IsObject()) return r;
  static const std::vector<std::pair<std::string, RolloutPhase>> kPhases = {
      {"Idle", RolloutPhase::kIdle},     {"Canary", RolloutPhase::kCanary},
      {"Progressing", RolloutPhase::kProgressing}, {"Paused", RolloutPhase::kPaused},
      {"Failed", RolloutPhase::kFailed}, {"RolledBack", RolloutPhase::kRolledBack},
      {"Complete", RolloutPhase::kComplete}};
  if (auto phase = f["phase"].String()) {
    for (const auto& [name, value] : kPhases) {
      if (*phase == name) r.phase = value;
    }
  }
  Assign(f["currentRevision"].String(), &r.current_revision);
  Assign(f["updateRevision"].String(), &r.update_revision);
  Assign(f["failedRevision"].String(), &r.failed_revision);
  r.updated_nodes = DecodeCount(f["updatedNodes"]);
  r.total_nodes = DecodeCount(f["totalNodes"]);
  for (const Field& n : f["nodes"].Items()) {
    if (!n.IsObject()) continue;
    RolloutNode node;
    Assign(n["node"].String(), &node.node);
    Assign(n["canary"].Bool(), &node.canary);
    Assign(n["startedAt"].String(), &node.started_at);
    node.healthy_before = DecodeCount(n["healthyBefore"]);
    Assign(n["passedAt"].String(), &node.passed_at);
    if (!node.node.empty()) r.nodes.push_back(std::move(node));
  }
  for (const Field& n : f["failed"].Items()) {
    if (!n.IsObject()) continue;
    RolloutFailure failure;
    Assign(n["node"].String(), &failure.node);
    Assign(n["gate"].String(), &failure.gate);
    Assign(n["message"].String(), &failure.message);
    if (!failure.node.empty()) r.failed.push_back(std::move(failure));
  }
  Assign(f["message"].String(), &r.message);
  Assign(f["startTime"].String(), &r.start_time);
  Assign(f["completionTime"].String(), &r.completion_time);
  return r;
}

DevicePoolStatus DecodeStatus(const Field& f) {
  DevicePoolStatus s;
  if (!f.IsObject()) return s;
  Assign(f["observedGeneration"].Int(0), &s.observed_generation);
  s.conditions = internal::DecodeConditions(f["conditions"]);
  if (Field n = f["nodes"]; n.IsObject()) {
    s.nodes = {DecodeCount(n["selected"]), DecodeCount(n["labelled"]), DecodeCount(n["registered"]),
               DecodeCount(n["ready"])};
  }
  s.devices = internal::DecodeDeviceCounts(f["devices"]);
  if (Field d = f["daemonSet"]; d.IsObject()) {
    s.daemon_set = {DecodeCount(d["desired"]), DecodeCount(d["updated"]), DecodeCount(d["ready"]),
                    DecodeCount(d["available"])};
  }
  for (const Field& p : f["problemNodes"].Items()) {
    if (!p.IsObject()) continue;
    ProblemNode node;
    if (p["node"].Require()) Assign(p["node"].String(), &node.node);
    Assign(p["reason"].String(), &node.reason);
    Assign(p["message"].String(), &node.message);
    s.problem_nodes.push_back(std::move(node));
  }
  s.rollout = DecodeRolloutStatus(f["rollout"]);
  return s;
}

}  // namespace

std::string_view AllocationPolicyName(AllocationPolicy policy) {
  switch (policy) {
    case AllocationPolicy::kPacked:
      return "packed";
    case AllocationPolicy::kBalanced:
      return "balanced";
    case AllocationPolicy::kNone:
      break;
  }
  return "none";
}

std::string_view AllocationApiName(AllocationApi api) {
  return api == AllocationApi::kDra ? "DRA" : "DevicePlugin";
}

std::string_view PullPolicyName(PullPolicy policy) {
  switch (policy) {
    case PullPolicy::kAlways:
      return "Always";
    case PullPolicy::kIfNotPresent:
      return "IfNotPresent";
    case PullPolicy::kNever:
      break;
  }
  return "Never";
}

std::string_view RolloutStrategyName(RolloutStrategy strategy) {
  return strategy == RolloutStrategy::kManaged ? "Managed" : "RollingUpdate";
}

std::string_view RolloutPhaseName(RolloutPhase phase) {
  switch (phase) {
    case RolloutPhase::kIdle:
      return "Idle";
    case RolloutPhase::kCanary:
      return "Canary";
    case RolloutPhase::kProgressing:
      return "Progressing";
    case RolloutPhase::kPaused:
      return "Paused";
    case RolloutPhase::kFailed:
      return "Failed";
    case RolloutPhase::kRolledBack:
      return "RolledBack";
    case RolloutPhase::kComplete:
      break;
  }
  return "Complete";
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      break;
  }
  return "error";
}

nlohmann::json Toleration::ToJson() const {
  nlohmann::json j = nlohmann::json::object();
  if (!key.empty()) j["key"] = key;
  if (!op.empty()) j["operator"] = op;
  if (!value.empty()) j["value"] = value;
  if (!effect.empty()) j["effect"] = effect;
  if (toleration_seconds) j["tolerationSeconds"] = *toleration_seconds;
  return j;
}

nlohmann::json ResourceRequirements::ToJson() const {
  nlohmann::json j = nlohmann::json::object();
  if (!limits.empty()) j["limits"] = limits;
  if (!requests.empty()) j["requests"] = requests;
  return j;
}

nlohmann::json IntOrPercent::ToJson() const {
  return percent ? nlohmann::json(std::to_string(value) + "%") : nlohmann::json(value);
}

kube::Status ValidateResourceName(std::string_view name) {
  auto invalid = [](std::string message) { return kube::Status(kube::Reason::kInvalid, std::move(message)); };
  size_t slash = name.find('/');
  if (slash == std::string_view::npos) {
    return invalid("resourceName must be <domain>/<name>, e.g. hashfoundry.com/custom-device");
  }
  if (name.find("kubernetes.io/") != std::string_view::npos) {
    return invalid("resourceName must not use the reserved kubernetes.io/ or *.kubernetes.io/ prefix");
  }
  if (name.substr(0, 9) == "requests.") {
    return invalid("resourceName must not start with 'requests.' (reserved for resource quota)");
  }
  std::string_view prefix = name.substr(0, slash);
  std::string_view rest = name.substr(slash + 1);
  // Resource quota prepends "requests." and the result must still be a
  // DNS subdomain of at most 253 characters.
  if (prefix.size() > 244) return invalid("the domain prefix of resourceName must be at most 244 characters");
  if (!IsDnsSubdomain(prefix)) {
    return invalid("the domain prefix of resourceName must be a lower-case DNS subdomain, e.g. hashfoundry.com");
  }
  if (rest.size() > 63) return invalid("the name part of resourceName (after '/') must be at most 63 characters");
  if (!IsQualifiedNamePart(rest)) {
    return invalid(
        "the name part of resourceName must be letters, digits, '-', '_' or '.', starting and ending with a letter or "
        "digit");
  }
  return kube::Status::Ok();
}

kube::Status ValidateImageReference(std::string_view image) {
  auto invalid = [&](std::string_view what) {
    return kube::Status(kube::Reason::kInvalid, "\"" + std::string(image.substr(0, 64)) +
                                                    (image.size() > 64 ? "...\"" : "\"") +
                                                    " is not an image reference: " + std::string(what));
  };
  std::string_view name = image;
  if (size_t at = name.find('@'); at != std::string_view::npos) {
    if (!IsDigest(name.substr(at + 1))) return invalid("the digest must be <algorithm>:<at least 32 hex digits>");
    name = name.substr(0, at);
  }
  size_t colon = name.rfind(':');
  size_t slash = name.rfind('/');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    if (!IsTag(name.substr(colon + 1))) {
      return invalid("the tag must be at most 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'");
    }
    name = name.substr(0, colon);
  }
  if (name.size() > 255) return invalid("the repository name must be at most 255 characters");
  std::vector<std::string_view> parts = Split(name, '/');
  for (size_t i = 0; i < parts.size(); ++i) {
    bool registry = i == 0 && parts.size() > 1 && IsRegistryDomain(parts[i]);
    if (!registry && !IsPathComponent(parts[i])) {
      return invalid(
          "expected [registry[:port]/]name[:tag][@digest] with a lower-case name of letters and digits joined by "
          "'.', '_', '__' or '-', e.g. registry.example.com/hashfoundry/device-operator:v1");
    }
  }
  return kube::Status::Ok();
}

kube::Status ValidateDeviceGlob(std::string_view glob) {
  auto invalid = [&](std::string_view what) {
    return kube::Status(kube::Reason::kInvalid, "\"" + std::string(glob.substr(0, 64)) +
                                                    (glob.size() > 64 ? "...\"" : "\"") + " " + std::string(what));
  };
  if (glob.substr(0, 5) != "/dev/" && glob.substr(0, 5) != "/sys/") {
    return invalid("is not under /dev or /sys: each glob must be an absolute path below one of them, e.g. /dev/fpga*");
  }
  auto forbidden = [](char c) { return c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f; };
  if (std::any_of(glob.begin(), glob.end(), forbidden)) {
    return invalid("must not contain a backslash or control characters");
  }
  // glob() reads directories with their "." and ".." entries, and only a
  // literal leading '.' matches them; so no segment may start with '.'.
  for (std::string_view segment : Split(glob.substr(1), '/')) {
    if (segment.empty() || segment.front() == '.') {
      return invalid("must be a normalised path: no empty segment and none starting with '.' (no . or ..)");
    }
  }
  // Brace groups expand to their alternatives; keeping '.', '/' and
  // nesting out of them keeps the expansions as tame as the glob itself.
  for (size_t i = 0; i < glob.size(); ++i) {
    if (glob[i] == '}') return invalid("has a '}' without its '{'");
    if (glob[i] != '{') continue;
    size_t close = glob.find('}', i);
    if (close == std::string_view::npos) return invalid("has a '{' without its '}'");
    for (std::string_view alternative : Split(glob.substr(i + 1, close - i - 1), ',')) {
      if (alternative.empty() || alternative.find_first_of("{/.") != std::string_view::npos) {
        return invalid("must have {a,b} groups of non-empty alternatives without '.', '/' or '{'");
      }
    }
    i = close;
  }
  return kube::Status::Ok();
}

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  // Go's time.Duration (int64 nanoseconds) ends here; beyond it the API
  // server's CEL duration() refuses the value, and so do we.
  constexpr int64_t kMaxMillis = INT64_MAX / 1000000;
  int64_t total = 0;
  size_t i = 0;
  while (i < s.size()) {
    int64_t n = 0;
    size_t start = i;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      n = n * 10 + (s[i] - '0');
      if (n > kMaxMillis) return std::nullopt;
    }
    if (i == start) return std::nullopt;
    int64_t unit;
    if (s.substr(i, 2) == "ms") {
      unit = 1;
      i += 2;
    } else if (i < s.size() && s[i] == 's') {
      unit = 1000;
      ++i;
    } else if (i < s.size() && s[i] == 'm') {
      unit = 60 * 1000;
      ++i;
    } else if (i < s.size() && s[i] == 'h') {
      unit = 60 * 60 * 1000;
      ++i;
    } else {
      return std::nullopt;
    }
    if (n > kMaxMillis / unit) return std::nullopt;
    total += n * unit;
    if (total > kMaxMillis) return std::nullopt;
  }
  return std::chrono::milliseconds(total);
}

DevicePoolStatus DecodeDevicePoolStatus(const nlohmann::json& obj) {
  internal::Errors errors;
  Field root(obj, &errors);
  return DecodeStatus(root["status"]);
}

kube::StatusOr<DevicePool> DecodeDevicePool(const nlohmann::json& obj) {
  internal::Errors errors;
  Field root(obj, &errors);
  DevicePool pool;
  if (!root.IsObject()) return errors.ToStatus("DevicePool");
  pool.metadata = internal::DecodeObjectHeader(root, kDevicePoolKind);
  if (pool.metadata.name.size() > kMaxPoolNameLength) {
    root["metadata"]["name"].Invalid(
        "must be at most 63 characters: it becomes the name part of the node label key "
        "devicepool.hashfoundry.com/<pool>");
  } else if (!pool.metadata.name.empty() && !IsDnsLabel(pool.metadata.name)) {
    root["metadata"]["name"].Invalid(
        "must be a DNS label (lower-case letters, digits and '-'): it names the agent's Service "
        "devicepool-<pool>");
  }
  pool.spec = DecodeSpec(root["spec"]);
  if (pool.spec.allocation_api == AllocationApi::kDra && pool.metadata.name.size() > kMaxDraPoolNameLength &&
      pool.metadata.name.size() <= kMaxPoolNameLength) {
    root["metadata"]["name"].Invalid(
        "must be at most 36 characters for allocationAPI DRA: the pool's DRA driver name "
        "<pool>.devicepool.hashfoundry.com must fit in 63");
  }
  pool.status = DecodeStatus(root["status"]);
  if (!errors.ok()) {
    return errors.ToStatus(pool.metadata.name.empty() ? "DevicePool" : "DevicePool " + pool.metadata.name);
  }
  return pool;
}

nlohmann::json EncodeDevicePoolStatus(const DevicePoolStatus& s) {
  nlohmann::json j = {
      {"observedGeneration", s.observed_generation},
      {"nodes",
       {{"selected", s.nodes.selected},
        {"labelled", s.nodes.labelled},
        {"registered", s.nodes.registered},
        {"ready", s.nodes.ready}}},
      {"devices", internal::EncodeDeviceCounts(s.devices)},
      {"daemonSet",
       {{"desired", s.daemon_set.desired},
        {"updated", s.daemon_set.updated},
        {"ready", s.daemon_set.ready},
        {"available", s.daemon_set.available}}},
  };
  // Empty lists are left out: with server-side apply an omitted field the
  // operator owned is removed, which is what an empty list means.
  if (!s.conditions.empty()) j["conditions"] = EncodeConditions(s.conditions);
  if (!s.problem_nodes.empty()) {
    nlohmann::json& nodes = j["problemNodes"] = nlohmann::json::array();
    for (size_t i = 0; i < s.problem_nodes.size() && i < kMaxProblemNodes; ++i) {
      const ProblemNode& p = s.problem_nodes[i];
      nlohmann::json node = {{"node", p.node}, {"reason", p.reason}};
      if (!p.message.empty()) node["message"] = p.message;
      nodes.push_back(std::move(node));
    }
  }
  if (s.rollout.phase != RolloutPhase::kIdle || !s.rollout.current_revision.empty()) {
    j["rollout"] = EncodeRolloutStatus(s.rollout);
  }
  return j;
}

nlohmann::json EncodeRolloutStatus(const RolloutStatus& r) {
  nlohmann::json j = {{"phase", RolloutPhaseName(r.phase)},
                      {"updatedNodes", r.updated_nodes},
                      {"totalNodes", r.total_nodes}};
  auto put = [&j](const char* key, const std::string& v) {
    if (!v.empty()) j[key] = v;
  };
  put("currentRevision", r.current_revision);
  put("updateRevision", r.update_revision);
  put("failedRevision", r.failed_revision);
  put("message", r.message);
  put("startTime", r.start_time);
  put("completionTime", r.completion_time);
  if (!r.nodes.empty()) {
    nlohmann::json& nodes = j["nodes"] = nlohmann::json::array();
    for (size_t i = 0; i < r.nodes.size() && i < kMaxRolloutNodes; ++i) {
      const RolloutNode& n = r.nodes[i];
      nlohmann::json node = {{"node", n.node}, {"canary", n.canary}, {"healthyBefore", n.healthy_before}};
      if (!n.started_at.empty()) node["startedAt"] = n.started_at;
      if (!n.passed_at.empty()) node["passedAt"] = n.passed_at;
      nodes.push_back(std::move(node));
    }
  }
  if (!r.failed.empty()) {
    nlohmann::json& failed = j["failed"] = nlohmann::json::array();
    for (size_t i = 0; i < r.failed.size() && i < kMaxRolloutFailures; ++i) {
      const RolloutFailure& f = r.failed[i];
      nlohmann::json node = {{"node", f.node}, {"gate", f.gate}};
      if (!f.message.empty()) node["message"] = f.message;
      failed.push_back(std::move(node));
    }
  }
  return j;
}

namespace internal {

DeviceCounts DecodeDeviceCounts(const Field& f) {
  DeviceCounts c;
  if (!f.IsObject()) return c;
  c.total = DecodeCount(f["total"]);
  c.healthy = DecodeCount(f["healthy"]);
  c.allocated = DecodeCount(f["allocated"]);
  return c;
}

nlohmann::json EncodeDeviceCounts(const DeviceCounts& c) {
  return {{"total", c.total}, {"healthy", c.healthy}, {"allocated", c.allocated}};
}

}  // namespace internal
}  // namespace hf::api
