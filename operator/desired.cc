#include "operator/desired.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "api/names.h"

namespace hf::controller {
namespace {

std::string Fnv1a64Hex(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

Json OwnerRef(const api::DevicePool& pool) {
  kube::OwnerReference ref{std::string(api::kApiVersion), std::string(api::kDevicePoolKind), pool.metadata.name,
                           pool.metadata.uid, true, true};
  return Json::array({ref.ToJson()});
}

// Labels every child carries; the selector labels are a stable subset.
Json SelectorLabels(const api::DevicePool& pool) {
  return {{"app.kubernetes.io/name", std::string(api::kAgentName)}, {std::string(api::kPoolLabel), pool.metadata.name}};
}

Json ChildLabels(const api::DevicePool& pool) {
  Json l = SelectorLabels(pool);
  l["app.kubernetes.io/instance"] = pool.metadata.name;
  l["app.kubernetes.io/component"] = "device-plugin";
  l[kManagedByLabel] = kManagedByValue;
  return l;
}

Json Metadata(const api::DevicePool& pool, const std::string& name, const std::string& ns) {
  Json m = {{"name", name}, {"labels", ChildLabels(pool)}, {"ownerReferences", OwnerRef(pool)}};
  if (!ns.empty()) m["namespace"] = ns;
  return m;
}

// Stamps the hash of the object's own content into an annotation.
Json WithSpecHash(Json obj) {
  obj["metadata"]["annotations"][kSpecHashAnnotation] = HashJson(obj);
  return obj;
}

Json HostPathVolume(const std::string& name, const std::string& path, const std::string& type) {
  return {{"name", name}, {"hostPath", {{"path", path}, {"type", type}}}};
}

Json Mount(const std::string& name, const std::string& path, bool read_only) {
  Json m = {{"name", name}, {"mountPath", path}};
  if (read_only) m["readOnly"] = true;
  return m;
}

std::string SimulatedDir(const api::DevicePool& pool, const OperatorConfig& cfg) {
  return cfg.simulated_root + "/" + pool.metadata.name;
}

}  // namespace

std::string HashJson(const Json& j) { return Fnv1a64Hex(j.dump()); }

std::string ChildName(const std::string& pool) {
  std::string name = "devicepool-" + pool;
  if (name.size() <= 63) return name;
  // Keep it unique and a DNS label: a prefix of the pool, then a hash of it.
  std::string hash = Fnv1a64Hex(pool).substr(0, 10);
  std::string head = name.substr(0, 63 - 1 - hash.size());
  while (!head.empty() && head.back() == '-') head.pop_back();
  return head + "-" + hash;
}

std::string BindingName(const std::string& pool) { return "hashfoundry-devicepool-" + pool; }

std::vector<std::string> AgentArgs(const api::DevicePool& pool, const OperatorConfig& cfg) {
  const auto& s = pool.spec;
  const bool dra = s.allocation_api == api::AllocationApi::kDra;
  std::vector<std::string> args = {
      "--pool=" + pool.metadata.name,
      "--pool-uid=" + pool.metadata.uid,
      "--resource-name=" + s.resource_name,
      "--node-name=$(NODE_NAME)",
  };
  if (dra) {
    args.push_back(kDraAgentArg);
    args.push_back("--driver-name=" + api::DraDriverName(pool.metadata.name));
  }
  if (const auto* sim = std::get_if<api::SimulatedDiscovery>(&s.discovery)) {
    args.push_back("--discovery=simulated");
    args.push_back("--simulated-count=" + std::to_string(sim->count));
    args.push_back("--simulated-prefix=" + sim->prefix);
    args.push_back("--dev-root=" + SimulatedDir(pool, cfg));
  } else if (const auto* paths = std::get_if<api::PathsDiscovery>(&s.discovery)) {
    args.push_back("--discovery=paths");
    for (const auto& g : paths->globs) args.push_back("--path-glob=" + g);
    args.push_back("--dev-root=/dev");
  } else if (const auto* pci = std::get_if<api::PciDiscovery>(&s.discovery)) {
    args.push_back("--discovery=pci");
    args.push_back("--pci-vendor=" + pci->vendor);
    for (const auto& d : pci->devices) args.push_back("--pci-device=" + d);
    args.push_back("--sys-root=/sys");
    args.push_back("--dev-root=/dev");
  }
  args.push_back("--replicas=" + std::to_string(s.sharing.replicas));
  args.push_back("--allocation-policy=" + std::string(api::AllocationPolicyName(s.allocation.policy)));
  args.push_back("--health-interval=" + s.health.interval);
  // DRA prepares every claim with CDI.
  const bool cdi = s.cdi.enabled || dra;
  args.push_back(std::string("--cdi=") + (cdi ? "true" : "false"));
  if (cdi) args.push_back("--cdi-dir=" + cfg.cdi_dir);
  if (dra) {
    args.push_back("--plugins-dir=" + cfg.dra_plugins_dir);
    args.push_back("--plugins-registry-dir=" + cfg.plugins_registry_dir);
  } else {
    args.push_back("--kubelet-dir=" + cfg.kubelet_plugins_dir);
  }
  args.push_back("--pod-resources-socket=" + cfg.pod_resources_dir + "/kubelet.sock");
  args.push_back("--http-address=:" + std::to_string(cfg.agent_http_port));
  // The pod's own template hash (an env var from its annotation): the agent
  // writes it into its DevicePoolNode, so a managed rollout knows a report
  // comes from the new revision.
  args.push_back("--revision=$(AGENT_REVISION)");
  args.push_back("--log-level=" + std::string(api::LogLevelName(s.agent.log_level)));
  args.push_back("--log-format=json");
  return args;
}

Json DesiredServiceAccount(const api::DevicePool& pool, const OperatorConfig& cfg) {
  return WithSpecHash({{"apiVersion", "v1"},
                       {"kind", "ServiceAccount"},
                       {"metadata", Metadata(pool, ChildName(pool.metadata.name), cfg.namespace_)}});
}

Json DesiredClusterRoleBinding(const api::DevicePool& pool, const OperatorConfig& cfg) {
  return WithSpecHash(
      {{"apiVersion", "rbac.authorization.k8s.io/v1"},
       {"kind", "ClusterRoleBinding"},
       {"metadata", Metadata(pool, BindingName(pool.metadata.name), "")},
       {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", cfg.agent_cluster_role}}},
       {"subjects", Json::array({{{"kind", "ServiceAccount"},
                                  {"name", ChildName(pool.metadata.name)},
                                  {"namespace", cfg.namespace_}}})}});
}

Json DesiredDaemonSet(const api::DevicePool& pool, const OperatorConfig& cfg, const Json* pinned_template) {
  const auto& s = pool.spec;
  const std::string name = ChildName(pool.metadata.name);

  const bool dra = s.allocation_api == api::AllocationApi::kDra;
  Json volumes = Json::array();
  Json mounts = Json::array();
  if (dra) {
    // The kubelet's plugin manager finds the registration socket, and
    // dials the driver's socket, on the host.
    volumes.push_back(HostPathVolume("dra-plugins", cfg.dra_plugins_dir, "DirectoryOrCreate"));
    mounts.push_back(Mount("dra-plugins", cfg.dra_plugins_dir, false));
    volumes.push_back(HostPathVolume("plugins-registry", cfg.plugins_registry_dir, "DirectoryOrCreate"));
    mounts.push_back(Mount("plugins-registry", cfg.plugins_registry_dir, false));
  } else {
    volumes.push_back(HostPathVolume("device-plugins", cfg.kubelet_plugins_dir, "DirectoryOrCreate"));
    mounts.push_back(Mount("device-plugins", cfg.kubelet_plugins_dir, false));
  }
  volumes.push_back(HostPathVolume("pod-resources", cfg.pod_resources_dir, "DirectoryOrCreate"));
  mounts.push_back(Mount("pod-resources", cfg.pod_resources_dir, true));
  if (std::holds_alternative<api::SimulatedDiscovery>(s.discovery)) {
    // The parent, not the pool's own directory: a bind mount of a directory
    // that is removed and created again would keep showing the removed one,
    // and the agent would never see its devices again.
    volumes.push_back(HostPathVolume("devices", cfg.simulated_root, "DirectoryOrCreate"));
    mounts.push_back(Mount("devices", cfg.simulated_root, false));
  } else {
    volumes.push_back(HostPathVolume("dev", "/dev", "Directory"));
    mounts.push_back(Mount("dev", "/dev", true));
  }
  if (std::holds_alternative<api::PciDiscovery>(s.discovery)) {
    volumes.push_back(HostPathVolume("sys", "/sys", "Directory"));
    mounts.push_back(Mount("sys", "/sys", true));
  }
  if (s.cdi.enabled || dra) {
    volumes.push_back(HostPathVolume("cdi", cfg.cdi_dir, "DirectoryOrCreate"));
    mounts.push_back(Mount("cdi", cfg.cdi_dir, false));
  }

  auto probe = [&](const char* path) {
    return Json{{"httpGet", {{"path", path}, {"port", "metrics"}}}, {"periodSeconds", 10}};
  };
  Json container = {
      {"name", "agent"},
      {"image", s.agent.image.value_or(cfg.agent_image)},
      {"command", Json::array({"/usr/bin/devicepool-agent"})},
      {"args", AgentArgs(pool, cfg)},
      {"env", Json::array({{{"name", "NODE_NAME"},
                            {"valueFrom", {{"fieldRef", {{"apiVersion", "v1"}, {"fieldPath", "spec.nodeName"}}}}}},
                           {{"name", "AGENT_REVISION"},
                            {"valueFrom",
                             {{"fieldRef",
                               {{"apiVersion", "v1"},
                                {"fieldPath", std::string("metadata.annotations['") + kTemplateHashAnnotation +
                                                  "']"}}}}}}})},
      {"ports", Json::array({{{"name", "metrics"}, {"containerPort", cfg.agent_http_port}, {"protocol", "TCP"}}})},
      // The agent writes why it exits to /dev/termination-log; the pool's
      // status shows it (AgentCrashLooping). Logs are the fallback.
      {"terminationMessagePolicy", "FallbackToLogsOnError"},
      {"livenessProbe", probe("/healthz")},
      {"readinessProbe", probe("/readyz")},
      {"resources", s.agent.resources.ToJson()},
      // Root only to write its socket into the kubelet's root-owned
      // directory; no capabilities, no privilege, nothing else writable.
      {"securityContext",
       {{"runAsUser", 0},
        {"privileged", false},
        {"allowPrivilegeEscalation", false},
        {"readOnlyRootFilesystem", true},
        {"capabilities", {{"drop", Json::array({"ALL"})}}},
        {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
      {"volumeMounts", mounts},
  };
  if (s.agent.image_pull_policy) container["imagePullPolicy"] = api::PullPolicyName(*s.agent.image_pull_policy);

  Json pod_spec = {
      {"serviceAccountName", name},
      {"nodeSelector", {{api::NodeSelectionLabel(pool.metadata.name), std::string(api::kNodeSelectionLabelValue)}}},
      {"containers", Json::array({container})},
      {"volumes", volumes},
  };
  if (!s.agent.tolerations.empty()) {
    Json t = Json::array();
    for (const auto& tol : s.agent.tolerations) t.push_back(tol.ToJson());
    pod_spec["tolerations"] = t;
  }
  if (!s.agent.image_pull_secrets.empty()) {
    Json secrets = Json::array();
    for (const auto& n : s.agent.image_pull_secrets) secrets.push_back({{"name", n}});
    pod_spec["imagePullSecrets"] = secrets;
  }
  if (s.agent.priority_class_name) pod_spec["priorityClassName"] = *s.agent.priority_class_name;

  Json template_labels = ChildLabels(pool);
  Json tmpl = {{"metadata", {{"labels", template_labels}}}, {"spec", pod_spec}};
  // The hash of the pod template: a spec change shows as a new hash on every
  // pod, which tells old agents from new during a rollout; it is the
  // revision the managed rollout works with (operator/rollout.h).
  tmpl["metadata"]["annotations"][kTemplateHashAnnotation] = HashJson(tmpl);

  // Managed: the operator replaces the agents itself (operator/rollout.h).
  // Never maxSurge: two instances of a classic device plugin on one node
  // tear down each other's registration.
  Json strategy = s.rollout.strategy == api::RolloutStrategy::kManaged
                      ? Json{{"type", "OnDelete"}}
                      : Json{{"type", "RollingUpdate"},
                             {"rollingUpdate", {{"maxUnavailable", s.rollout.max_unavailable.ToJson()}}}};
  Json ds = {{"apiVersion", "apps/v1"},
             {"kind", "DaemonSet"},
             {"metadata", Metadata(pool, name, cfg.namespace_)},
             {"spec", {{"selector", {{"matchLabels", SelectorLabels(pool)}}}, {"updateStrategy", strategy}}}};
  ds["spec"]["template"] = pinned_template != nullptr ? *pinned_template : tmpl;
  return WithSpecHash(std::move(ds));
}

void DropNulls(Json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end();) {
      if (it->is_null()) {
        it = j.erase(it);
      } else {
        DropNulls(*it);
        ++it;
      }
    }
  } else if (j.is_array()) {
    for (auto& e : j) DropNulls(e);
  }
}

Json ControllerRevisionTemplate(const Json& cr) {
  Json tmpl = cr.value("data", Json::object()).value("spec", Json::object()).value("template", Json::object());
  tmpl.erase("$patch");
  DropNulls(tmpl);
  return tmpl;
}

std::string TemplateRevision(const Json& tmpl) {
  const Json* h = &tmpl;
  for (const char* k : {"metadata", "annotations", kTemplateHashAnnotation}) {
    h = h->is_object() && h->contains(k) ? &(*h)[k] : nullptr;
    if (h == nullptr) return "";
  }
  return h->is_string() ? h->get<std::string>() : "";
}

Json DesiredService(const api::DevicePool& pool, const OperatorConfig& cfg) {
  return WithSpecHash({{"apiVersion", "v1"},
                       {"kind", "Service"},
                       {"metadata", Metadata(pool, ChildName(pool.metadata.name), cfg.namespace_)},
                       {"spec",
                        {{"selector", SelectorLabels(pool)},
                         {"ports", Json::array({{{"name", "metrics"},
                                                 {"port", cfg.agent_http_port},
                                                 {"targetPort", "metrics"},
                                                 {"protocol", "TCP"}}})}}}});
}

kube::GroupVersionResource ServiceMonitors() { return {"monitoring.coreos.com", "v1", "servicemonitors", true}; }
kube::GroupVersionResource PrometheusRules() { return {"monitoring.coreos.com", "v1", "prometheusrules", true}; }

Json DesiredServiceMonitor(const api::DevicePool& pool, const OperatorConfig& cfg) {
  const auto& sm = pool.spec.monitoring.service_monitor;
  Json md = Metadata(pool, ChildName(pool.metadata.name), cfg.namespace_);
  for (const auto& [k, v] : sm.labels) md["labels"][k] = v;
  return WithSpecHash(
      {{"apiVersion", "monitoring.coreos.com/v1"},
       {"kind", "ServiceMonitor"},
       {"metadata", md},
       {"spec",
        {{"selector", {{"matchLabels", SelectorLabels(pool)}}},
         {"namespaceSelector", {{"matchNames", Json::array({cfg.namespace_})}}},
         {"endpoints", Json::array({{{"port", "metrics"}, {"path", "/metrics"}, {"interval", sm.interval}}})}}}});
}

Json DesiredPrometheusRule(const api::DevicePool& pool, const OperatorConfig& cfg) {
  const auto& pr = pool.spec.monitoring.prometheus_rule;
  const std::string& p = pool.metadata.name;
  const std::string job = ChildName(p);
  Json md = Metadata(pool, ChildName(p), cfg.namespace_);
  for (const auto& [k, v] : pr.labels) md["labels"][k] = v;
  char ratio[32];
  std::snprintf(ratio, sizeof ratio, "%g", pr.allocation_high_ratio);
  Json labels = {{"severity", "warning"}, {"pool", p}};
  Json rules = Json::array({
      {{"alert", "DevicePluginDown"},
       {"expr", "up{job=\"" + job + "\",namespace=\"" + cfg.namespace_ + "\"} == 0"},
       {"for", pr.plugin_down_for},
       {"labels", {{"severity", "critical"}, {"pool", p}}},
       {"annotations",
        {{"summary", "Device plugin agent of pool " + p + " is down"},
         {"description", "The devicepool-agent on {{ $labels.instance }} has not answered scrapes for " +
                             pr.plugin_down_for + "."}}}},
      // An agent that answers scrapes but holds no live registration: the
      // kubelet offers none of its devices (its socket went away, or it
      // refuses the plugin). A down agent is DevicePluginDown instead: its
      // series go stale, so this stays quiet.
      {{"alert", "DevicePluginNotRegistered"},
       {"expr", "max by (node) (hashfoundry_agent_registered{pool=\"" + p + "\"}) == 0"},
       {"for", pr.plugin_down_for},
       {"labels", {{"severity", "critical"}, {"pool", p}}},
       {"annotations",
        {{"summary", "Device plugin agent of pool " + p + " is not registered with the kubelet"},
         {"description", "The devicepool-agent on node {{ $labels.node }} runs but has not been registered with "
                         "its kubelet for " +
                             pr.plugin_down_for +
                             ", so the node offers none of its devices. Check the kubelet and " +
                             (pool.spec.allocation_api == api::AllocationApi::kDra
                                  ? "the driver's registration socket, plugins_registry/" + api::DraDriverName(p) +
                                        "-reg.sock."
                                  : std::string("its device-plugins/kubelet.sock."))}}}},
      {{"alert", "DeviceUnhealthy"},
       {"expr", "sum by (node) (hashfoundry_agent_devices{pool=\"" + p + "\",state=\"unhealthy\"}) > 0"},
       {"for", pr.unhealthy_for},
       {"labels", labels},
       {"annotations",
        {{"summary", "Unhealthy devices in pool " + p},
         {"description", "{{ $value }} device(s) of pool " + p + " on node {{ $labels.node }} have been unhealthy for " +
                             pr.unhealthy_for + "."}}}},
      {{"alert", "DeviceAllocationHigh"},
       {"expr", "sum(hashfoundry_agent_devices{pool=\"" + p + "\",state=\"allocated\"}) / sum(hashfoundry_agent_devices{pool=\"" +
                    p + "\",state=\"total\"}) > " + ratio},
       {"for", pr.allocation_high_for},
       {"labels", labels},
       {"annotations",
        {{"summary", "Pool " + p + " is nearly fully allocated"},
         {"description", "More than " + std::string(ratio) + " of the devices in pool " + p + " are allocated."}}}},
  });
  return WithSpecHash({{"apiVersion", "monitoring.coreos.com/v1"},
                       {"kind", "PrometheusRule"},
                       {"metadata", md},
                       {"spec", {{"groups", Json::array({{{"name", "hashfoundry-devicepool-" + p}, {"rules", rules}}})}}}});
}

kube::GroupVersionResource DeviceClasses() { return {"resource.k8s.io", "v1", "deviceclasses", false}; }
kube::GroupVersionResource ResourceSlices() { return {"resource.k8s.io", "v1", "resourceslices", false}; }
kube::GroupVersionResource ResourceClaims() { return {"resource.k8s.io", "v1", "resourceclaims", true}; }

Json DesiredDeviceClass(const api::DevicePool& pool, const OperatorConfig&, bool extended_resource) {
  const std::string driver = api::DraDriverName(pool.metadata.name);
  Json spec = {{"selectors", Json::array({{{"cel", {{"expression", "device.driver == \"" + driver + "\""}}}}})}};
  if (extended_resource) spec["extendedResourceName"] = pool.spec.resource_name;
  return WithSpecHash({{"apiVersion", "resource.k8s.io/v1"},
                       {"kind", "DeviceClass"},
                       {"metadata", Metadata(pool, driver, "")},
                       {"spec", std::move(spec)}});
}

std::optional<DecimalValue> ParseQuantity(std::string_view s) {
  DecimalValue v;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) v.negative = s[i++] == '-';
  std::string digits;
  int fraction = 0;
  bool dot = false;
  for (; i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || (s[i] == '.' && !dot)); ++i) {
    if (s[i] == '.') {
      dot = true;
    } else {
      digits += s[i];
      if (dot) ++fraction;
    }
  }
  if (digits.empty()) return std::nullopt;
  std::string_view suffix = s.substr(i);
  int exponent = -fraction;
  int binary_power = 0;  // times 1024^binary_power
  static const std::string_view kDecimal[] = {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"};
  static const std::string_view kBinary[] = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  bool known = false;
  for (int k = 0; k < 10 && !known; ++k) {
    if (suffix == kDecimal[k]) exponent += 3 * (k - 3), known = true;
  }
  for (int k = 0; k < 6 && !known; ++k) {
    if (suffix == kBinary[k]) binary_power = k + 1, known = true;
  }
  if (!known && suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    std::string_view e = suffix.substr(1);
    bool minus = false;
    if (e[0] == '-' || e[0] == '+') {
      minus = e[0] == '-';
      e.remove_prefix(1);
    }
    auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
    if (e.empty() || e.size() > 4 || !std::all_of(e.begin(), e.end(), digit)) {
      return std::nullopt;
    }
    int n = std::stoi(std::string(e));
    exponent += minus ? -n : n;
    known = true;
  }
  if (!known) return std::nullopt;
  // Multiply the digit string by 1024, binary_power times.
  for (int k = 0; k < 10 * binary_power; ++k) {
    int carry = 0;
    for (auto d = digits.rbegin(); d != digits.rend(); ++d) {
      int x = (*d - '0') * 2 + carry;
      *d = static_cast<char>('0' + x % 10);
      carry = x / 10;
    }
    if (carry) digits.insert(digits.begin(), static_cast<char>('0' + carry));
  }
  size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return DecimalValue{};  // zero, whatever its sign or suffix
  digits.erase(0, first);
  while (digits.size() > 1 && digits.back() == '0') {
    digits.pop_back();
    ++exponent;
  }
  v.digits = std::move(digits);
  v.exponent = exponent;
  return v;
}

int64_t DeviceCount(std::string_view quantity) {
  auto q = ParseQuantity(quantity);
  if (!q || q->negative || q->digits.empty() || q->exponent < 0 ||
      q->digits.size() + static_cast<size_t>(q->exponent) > 9) {
    return 0;
  }
  int64_t n = 0;
  for (char c : q->digits) n = n * 10 + (c - '0');
  for (int i = 0; i < q->exponent; ++i) n *= 10;
  return n;
}

bool IsSubset(const Json& desired, const Json& actual) {
  if (desired.is_object()) {
    if (!actual.is_object()) return false;
    for (auto it = desired.begin(); it != desired.end(); ++it) {
      auto a = actual.find(it.key());
      if (a == actual.end()) return false;
      // Resource quantities come back in canonical form ("0.5" -> "500m").
      if ((it.key() == "limits" || it.key() == "requests") && it.value().is_object() && a->is_object()) {
        if (it.value().size() != a->size()) return false;
        for (auto q = it.value().begin(); q != it.value().end(); ++q) {
          auto aq = a->find(q.key());
          if (aq == a->end() || !q.value().is_string() || !aq->is_string()) return false;
          auto dv = ParseQuantity(q.value().get<std::string>()), av = ParseQuantity(aq->get<std::string>());
          if (dv && av ? !(*dv == *av) : q.value() != *aq) return false;
        }
        continue;
      }
      if (!IsSubset(it.value(), *a)) return false;
    }
    return true;
  }
  if (desired.is_array()) {
    if (!actual.is_array() || actual.size() != desired.size()) return false;
    for (size_t i = 0; i < desired.size(); ++i) {
      if (!IsSubset(desired[i], actual[i])) return false;
    }
    return true;
  }
  if (desired.is_number() && actual.is_number()) return desired.get<double>() == actual.get<double>();
  return desired == actual;
}

}  // namespace hf::controller
