#include "agent/config.h"

#include <sys/un.h>

#include <algorithm>
#include <cctype>

#include "api/device_pool_node.h"
#include "api/label_selector.h"
#include "kube/flags/flags.h"
#include "kube/http/server.h"
#include "kube/log/logging.h"

namespace hf::agent {
namespace {

using kube::Status;
using kube::flags::Invalid;
using kube::flags::Quote;

bool IsAbsolute(std::string_view s) { return !s.empty() && s.front() == '/'; }

// PCI ids as sysfs and lspci print them, without 0x: "10de".
bool IsHexId(std::string_view s) {
  return s.size() == 4 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

std::string Lower(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out.push_back(static_cast<char>(std::tolower(c)));
  return out;
}

namespace flags = kube::flags;

// What the command line sets: the Config, and whether only to check it.
struct CommandLine {
  Config config;
  bool check_config = false;
};

flags::FlagSet<Config> ConfigFlags() {
  flags::Check hex = flags::Is(IsHexId, "a PCI id of 4 hex digits, e.g. 10de");
  return {
      {"pool", flags::String(&Config::pool)},
      {"pool-uid", flags::String(&Config::pool_uid)},
      {"resource-name", flags::String(&Config::resource_name)},
      {"node-name", flags::String(&Config::node_name)},
      {"revision", flags::Checked(&Config::revision,
                                  flags::Is(api::IsAgentRevision,
                                            "a revision: at most " + std::to_string(api::kMaxAgentRevision) +
                                                " characters of A-Z, a-z, 0-9, '.', '_', '-'"))},
      {"discovery", flags::Enum(&Config::discovery, {{"simulated", DiscoveryMode::kSimulated},
                                                     {"paths", DiscoveryMode::kPaths},
                                                     {"pci", DiscoveryMode::kPci}})},
      {"simulated-count", flags::Int(&Config::simulated_count, 0, 1024)},
      {"simulated-prefix", flags::Checked(&Config::simulated_prefix,
                                          flags::Is(api::IsDnsLabel, "a DNS label (lower-case letters, digits, '-')"))},
      // The same rules as the DevicePool's discovery.paths.globs.
      {"path-glob", flags::Appended(&Config::path_globs, api::ValidateDeviceGlob)},
      {"pci-vendor", flags::Checked(&Config::pci_vendor, hex, Lower)},
      {"pci-device", flags::Appended(&Config::pci_devices, hex, Lower)},
      {"replicas", flags::Int(&Config::replicas, 1, 64)},
      {"allocation-policy", flags::Enum(&Config::allocation_policy, {{"packed", api::AllocationPolicy::kPacked},
                                                                      {"balanced", api::AllocationPolicy::kBalanced},
                                                                      {"none", api::AllocationPolicy::kNone}})},
      {"health-interval", flags::Duration(&Config::health_interval, api::ParseDuration)},
      {"allocation-api", flags::Enum(&Config::allocation_api, {{"DevicePlugin", AllocationApi::kDevicePlugin},
                                                                {"DRA", AllocationApi::kDra}})},
      {"driver-name", flags::Checked(&Config::driver_name,
                                     flags::Is([](std::string_view s) { return s.size() <= 63 && api::IsDnsSubdomain(s); },
                                               "a DNS subdomain of at most 63 characters"))},
      {"plugins-dir", flags::String(&Config::plugins_dir)},
      {"plugins-registry-dir", flags::String(&Config::plugins_registry_dir)},
      {"cdi", flags::Bool(&Config::cdi)},
      {"cdi-dir", flags::String(&Config::cdi_dir)},
      {"kubelet-dir", flags::String(&Config::kubelet_dir)},
      {"pod-resources-socket", flags::String(&Config::pod_resources_socket)},
      {"dev-root", flags::String(&Config::dev_root)},
      {"sys-root", flags::String(&Config::sys_root)},
      {"http-address", flags::Checked(&Config::http_address, flags::Is(kube::IsBindAddress, "<ipv4>:<port> or :<port>"))},
      {"log-level", flags::Checked(&Config::log_level, flags::Is(kube::IsLogLevel, "one of debug, info, warn, error"))},
      {"log-format", flags::Checked(&Config::log_format, flags::Is(kube::IsLogFormat, "text or json"))},
      {"kubeconfig", flags::String(&Config::kubeconfig)},
      {"report", flags::Bool(&Config::report)},
      {"termination-log", flags::Checked(&Config::termination_log, flags::Is(IsAbsolute, "an absolute path"))},
  };
}

flags::FlagSet<CommandLine> Flags() {
  flags::FlagSet<CommandLine> set(&CommandLine::config, ConfigFlags());
  set.Add("check-config", flags::Bool(&CommandLine::check_config));
  return set;
}

// Rules that span flags, checked once all are read.
Status Validate(const Config& c) {
  if (Status st = api::ValidateResourceName(c.resource_name); !st.ok()) return Invalid("resource-name", st.message());
  if (c.report && c.pool.empty()) return Invalid("pool", "required unless --report=false");
  // The CRD makes a pool's name a DNS label: it becomes a label key's name
  // part and names the pool's Service.
  if (!c.pool.empty() && !api::IsDnsLabel(c.pool)) {
    return Invalid("pool", Quote(c.pool) +
                               " is not a DevicePool name (a DNS label: at most 63 lower-case letters, digits, '-')");
  }
  if (c.report && c.node_name.empty()) {
    return Invalid("node-name", "required (or set NODE_NAME) unless --report=false");
  }
  if (c.node_name.size() > 253) return Invalid("node-name", "longer than 253 characters");
  if (c.discovery == DiscoveryMode::kPaths && c.path_globs.empty()) {
    return Invalid("path-glob", "at least one is required with --discovery=paths");
  }
  if (c.discovery == DiscoveryMode::kPci && c.pci_vendor.empty()) {
    return Invalid("pci-vendor", "required with --discovery=pci");
  }
  for (auto [flag, value] : {std::pair{"kubelet-dir", &c.kubelet_dir}, std::pair{"dev-root", &c.dev_root},
                             std::pair{"sys-root", &c.sys_root}, std::pair{"cdi-dir", &c.cdi_dir}}) {
    if (value->empty()) return Invalid(flag, "must not be empty");
  }
  if (c.allocation_api == AllocationApi::kDra) {
    if (c.driver_name.empty()) return Invalid("driver-name", "required with --allocation-api=DRA");
    if (c.node_name.empty()) return Invalid("node-name", "required (or set NODE_NAME) with --allocation-api=DRA");
    if (c.pool.empty()) return Invalid("pool", "required with --allocation-api=DRA");
    for (auto [flag, value] :
         {std::pair{"plugins-dir", &c.plugins_dir}, std::pair{"plugins-registry-dir", &c.plugins_registry_dir}}) {
      if (value->empty() || value->front() != '/') return Invalid(flag, "must be an absolute path");
    }
    for (auto [flag, path] :
         {std::pair{"plugins-dir", c.plugins_dir + "/" + c.driver_name + "/dra.sock"},
          std::pair{"plugins-registry-dir", c.plugins_registry_dir + "/" + c.driver_name + "-reg.sock"}}) {
      if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
        return Invalid(flag, "socket path " + Quote(path) + " is longer than a unix socket allows");
      }
    }
  }
  // sun_path holds 108 bytes with the terminating NUL.
  if (c.SocketPath().size() >= sizeof(sockaddr_un{}.sun_path)) {
    return Invalid("kubelet-dir", "socket path " + Quote(c.SocketPath()) + " is longer than a unix socket allows");
  }
  return Status::Ok();
}

}  // namespace

std::string Config::SocketName() const {
  std::string name = resource_name;
  std::replace(name.begin(), name.end(), '/', '_');
  return name + ".sock";
}

std::string Config::SocketPath() const {
  std::string dir = kubelet_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir + "/" + SocketName();
}

kube::StatusOr<ParsedFlags> ParseFlags(const std::vector<std::string>& args, const GetEnv& env) {
  CommandLine line;
  kube::StatusOr<flags::Outcome> outcome = Flags().Parse(args, line);
  if (!outcome.ok()) return outcome.status();
  if (*outcome == flags::Outcome::kHelp) return ParsedFlags{Action::kHelp, {}};
  if (*outcome == flags::Outcome::kVersion) return ParsedFlags{Action::kVersion, {}};
  Config& c = line.config;
  // Also when given empty: the DaemonSet passes --node-name=$(NODE_NAME).
  if (c.node_name.empty()) {
    if (std::optional<std::string> node = env("NODE_NAME")) c.node_name = *node;
  }
  if (Status st = Validate(c); !st.ok()) return st;
  return ParsedFlags{line.check_config ? Action::kCheckConfig : Action::kRun, std::move(c)};
}

TerminationLog FindTerminationLog(const std::vector<std::string>& args) {
  TerminationLog log{std::string(kDefaultTerminationLog), false};
  for (std::string& path : flags::FindValues(args, "termination-log")) {
    if (IsAbsolute(path)) log = {std::move(path), true};
  }
  return log;
}

std::string Usage() {
  return R"(Usage: devicepool-agent [flags]

The HashFoundry per-node agent: discovers devices, serves them to the kubelet
as a device plugin and reports them in its DevicePoolNode.

Flags are --name=value or --name value; a BOOL flag alone means true.

  --pool=NAME                     DevicePool this agent serves (required with --report)
  --pool-uid=UID                  the pool's uid, for the DevicePoolNode's ownerReference
  --resource-name=NAME            extended resource (default hashfoundry.com/custom-device)
  --node-name=NAME                this node (default $NODE_NAME)
  --revision=STRING               the DaemonSet pod template revision that started this agent,
                                  reported as the DevicePoolNode's status.agentRevision; at most
                                  63 characters of A-Z a-z 0-9 . _ - (default empty)
  --discovery=MODE                simulated | paths | pci (default simulated)
  --simulated-count=N             simulated devices, 0..1024 (default 4)
  --simulated-prefix=PREFIX       simulated device file prefix (default hashfoundry-device)
  --path-glob=GLOB                glob under /dev or /sys, repeatable; read under --dev-root
                                  and --sys-root, matches resolving outside them are skipped
  --pci-vendor=HEX                PCI vendor id, e.g. 10de
  --pci-device=HEX                PCI device id, repeatable (default: every device of the vendor)
  --replicas=N                    advertise each device N times as <id>::<n>, 1..64 (default 1)
  --allocation-policy=POLICY      packed | balanced | none (default packed)
  --health-interval=DURATION      rescan interval behind the inotify events (default 30s)
  --allocation-api=API            DevicePlugin | DRA (default DevicePlugin): serve the devices
                                  through the device plugin API, or as a DRA driver that
                                  publishes ResourceSlices and prepares claims with CDI specs
  --driver-name=NAME              the DRA driver's name (required with DRA)
  --plugins-dir=DIR               DRA: the kubelet's plugins directory; the driver serves
                                  DIR/<driver>/dra.sock (default /var/lib/kubelet/plugins)
  --plugins-registry-dir=DIR      DRA: where the kubelet finds plugins
                                  (default /var/lib/kubelet/plugins_registry)
  --cdi=BOOL                      write a CDI spec and answer Allocate with CDI devices
  --cdi-dir=DIR                   where the CDI spec goes (default /var/run/cdi)
  --kubelet-dir=DIR               device-plugins directory (default /var/lib/kubelet/device-plugins)
  --pod-resources-socket=PATH     kubelet PodResources socket, for the allocated count
  --dev-root=DIR                  where /dev is (default /dev)
  --sys-root=DIR                  where /sys is (default /sys)
  --http-address=ADDR             /healthz, /readyz and /metrics (default :8080)
  --log-level=LEVEL               debug | info | warn | error (default info)
  --log-format=FORMAT             text | json (default text)
  --kubeconfig=PATH               default: $KUBECONFIG, in-cluster, ~/.kube/config
  --report=BOOL                   write the DevicePoolNode (default true)
  --termination-log=PATH          also write a fatal error here (default /dev/termination-log,
                                  written only if it exists)
  --check-config                  check the flags as a run would, print "config ok", exit 0
                                  (2 with the error otherwise)
  --version                       print the version and exit
  --help, -h                      print this and exit
)";
}

}  // namespace hf::agent
