#include "agent/config.h"

#include <arpa/inet.h>
#include <sys/un.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>

#include "api/device_pool_node.h"
#include "api/label_selector.h"
#include "kube/log/logging.h"

namespace hf::agent {
namespace {

using kube::Reason;
using kube::Status;

// Values are echoed in messages; a pasted megabyte must not be.
std::string Quote(std::string_view value) {
  constexpr size_t kMax = 64;
  if (value.size() <= kMax) return "\"" + std::string(value) + "\"";
  return "\"" + std::string(value.substr(0, kMax)) + "...\"";
}

Status Invalid(std::string_view flag, const std::string& message) {
  return Status(Reason::kInvalid, "--" + std::string(flag) + ": " + message);
}


// "<ipv4>:<port>" or ":<port>", what HttpServer binds.
bool IsHttpAddress(std::string_view s) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string host(s.substr(0, colon));
  std::string_view port = s.substr(colon + 1);
  int p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || end != port.data() + port.size() || p < 0 || p > 65535) return false;
  in_addr addr{};
  return host.empty() || inet_pton(AF_INET, host.c_str(), &addr) == 1;
}

bool IsAbsolute(std::string_view s) { return !s.empty() && s.front() == '/'; }
bool IsLogLevel(std::string_view s) { return kube::ParseLogLevel(s).ok(); }
bool IsLogFormat(std::string_view s) { return s == "text" || s == "json"; }

// PCI ids as sysfs and lspci print them, without 0x: "10de".
bool IsHexId(std::string_view s) {
  return s.size() == 4 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

std::string Lower(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out.push_back(static_cast<char>(std::tolower(c)));
  return out;
}

// Sets a flag from its value; `flag` is its name, for messages.
using Setter = std::function<Status(Config& config, std::string_view flag, std::string_view value)>;

struct FlagSpec {
  bool is_bool = false;
  Setter set;
};

Status NotA(std::string_view flag, std::string_view value, const std::string& what) {
  return Invalid(flag, Quote(value) + " is not " + what);
}

// A string flag whose value must pass `valid` (described by `what`); the
// value is stored through `normalise`.
FlagSpec Checked(std::string Config::*field, bool (*valid)(std::string_view), std::string what,
                 std::string (*normalise)(std::string_view) = nullptr) {
  return {false, [=](Config& c, std::string_view flag, std::string_view v) {
            if (valid != nullptr && !valid(v)) return NotA(flag, v, what);
            c.*field = normalise != nullptr ? normalise(v) : std::string(v);
            return Status::Ok();
          }};
}

FlagSpec String(std::string Config::*field) { return Checked(field, nullptr, ""); }

// A repeatable string flag.
FlagSpec Appended(std::vector<std::string> Config::*field, bool (*valid)(std::string_view), std::string what,
                  std::string (*normalise)(std::string_view) = nullptr) {
  return {false, [=](Config& c, std::string_view flag, std::string_view v) {
            if (!valid(v)) return NotA(flag, v, what);
            (c.*field).push_back(normalise != nullptr ? normalise(v) : std::string(v));
            return Status::Ok();
          }};
}

FlagSpec Bool(bool Config::*field) {
  return {true, [=](Config& c, std::string_view flag, std::string_view v) {
            if (v == "true" || v == "1") {
              c.*field = true;
            } else if (v == "false" || v == "0") {
              c.*field = false;
            } else {
              return NotA(flag, v, "true or false");
            }
            return Status::Ok();
          }};
}

FlagSpec Int(int Config::*field, int min, int max) {
  return {false, [=](Config& c, std::string_view flag, std::string_view v) {
            int n = 0;
            auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            if (ec != std::errc() || end != v.data() + v.size() || n < min || n > max) {
              return NotA(flag, v, "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
            }
            c.*field = n;
            return Status::Ok();
          }};
}

template <typename T>
FlagSpec Enum(T Config::*field, std::vector<std::pair<std::string_view, T>> values) {
  return {false, [=](Config& c, std::string_view flag, std::string_view v) {
            std::string names;
            for (const auto& [name, value] : values) {
              if (v == name) {
                c.*field = value;
                return Status::Ok();
              }
              names += (names.empty() ? "" : ", ") + std::string(name);
            }
            return NotA(flag, v, "one of " + names);
          }};
}

// The same rules as the DevicePool's discovery.paths.globs.
FlagSpec Glob() {
  return {false, [](Config& c, std::string_view flag, std::string_view v) {
            if (Status st = api::ValidateDeviceGlob(v); !st.ok()) return Invalid(flag, st.message());
            c.path_globs.emplace_back(v);
            return Status::Ok();
          }};
}

FlagSpec Duration(std::chrono::milliseconds Config::*field) {
  return {false, [=](Config& c, std::string_view flag, std::string_view v) {
            std::optional<std::chrono::milliseconds> d = api::ParseDuration(v);
            if (!d || d->count() <= 0) return NotA(flag, v, "a positive duration such as 30s or 1m");
            c.*field = *d;
            return Status::Ok();
          }};
}

std::map<std::string, FlagSpec, std::less<>> Flags() {
  const std::string hex = "a PCI id of 4 hex digits, e.g. 10de";
  return {
      {"pool", String(&Config::pool)},
      {"pool-uid", String(&Config::pool_uid)},
      {"resource-name", String(&Config::resource_name)},
      {"node-name", String(&Config::node_name)},
      {"revision", Checked(&Config::revision, api::IsAgentRevision,
                           "a revision: at most " + std::to_string(api::kMaxAgentRevision) +
                               " characters of A-Z, a-z, 0-9, '.', '_', '-'")},
      {"discovery", Enum<DiscoveryMode>(&Config::discovery, {{"simulated", DiscoveryMode::kSimulated},
                                                             {"paths", DiscoveryMode::kPaths},
                                                             {"pci", DiscoveryMode::kPci}})},
      {"simulated-count", Int(&Config::simulated_count, 0, 1024)},
      {"simulated-prefix",
       Checked(&Config::simulated_prefix, api::IsDnsLabel, "a DNS label (lower-case letters, digits, '-')")},
      {"path-glob", Glob()},
      {"pci-vendor", Checked(&Config::pci_vendor, IsHexId, hex, Lower)},
      {"pci-device", Appended(&Config::pci_devices, IsHexId, hex, Lower)},
      {"replicas", Int(&Config::replicas, 1, 64)},
      {"allocation-policy", Enum<api::AllocationPolicy>(&Config::allocation_policy,
                                                        {{"packed", api::AllocationPolicy::kPacked},
                                                         {"balanced", api::AllocationPolicy::kBalanced},
                                                         {"none", api::AllocationPolicy::kNone}})},
      {"health-interval", Duration(&Config::health_interval)},
      {"cdi", Bool(&Config::cdi)},
      {"cdi-dir", String(&Config::cdi_dir)},
      {"kubelet-dir", String(&Config::kubelet_dir)},
      {"pod-resources-socket", String(&Config::pod_resources_socket)},
      {"dev-root", String(&Config::dev_root)},
      {"sys-root", String(&Config::sys_root)},
      {"http-address", Checked(&Config::http_address, IsHttpAddress, "<ipv4>:<port> or :<port>")},
      {"log-level", Checked(&Config::log_level, IsLogLevel, "one of debug, info, warn, error")},
      {"log-format", Checked(&Config::log_format, IsLogFormat, "text or json")},
      {"kubeconfig", String(&Config::kubeconfig)},
      {"report", Bool(&Config::report)},
      {"termination-log", Checked(&Config::termination_log, IsAbsolute, "an absolute path")},
  };
}

// Rules that span flags, checked once all are read.
Status Validate(const Config& c) {
  if (Status st = api::ValidateResourceName(c.resource_name); !st.ok()) return Invalid("resource-name", st.message());
  if (c.report && c.pool.empty()) return Invalid("pool", "required unless --report=false");
  // The CRD makes a pool's name a DNS label: it becomes a label key's name
  // part and names the pool's Service.
  if (!c.pool.empty() && !api::IsDnsLabel(c.pool)) {
    return NotA("pool", c.pool, "a DevicePool name (a DNS label: at most 63 lower-case letters, digits, '-')");
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
  const std::map<std::string, FlagSpec, std::less<>> flags = Flags();
  ParsedFlags parsed;
  Config& c = parsed.config;
  bool node_name_set = false;
  bool check_config = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") return ParsedFlags{Action::kHelp, {}};
    if (arg == "--version") return ParsedFlags{Action::kVersion, {}};
    if (arg == "--check-config") {
      check_config = true;
      continue;
    }
    if (arg.substr(0, 2) != "--" || arg.size() == 2) {
      return Status(Reason::kInvalid, "unexpected argument " + Quote(arg) + " (flags are --name=value)");
    }
    arg.remove_prefix(2);
    size_t eq = arg.find('=');
    std::string_view name = arg.substr(0, eq);
    auto it = flags.find(name);
    if (it == flags.end()) return Status(Reason::kInvalid, "unknown flag --" + std::string(name).substr(0, 64));
    std::string value;
    if (eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    } else if (it->second.is_bool) {
      value = "true";
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return Invalid(name, "needs a value");
    }
    if (Status st = it->second.set(c, name, value); !st.ok()) return st;
    if (name == "node-name") node_name_set = true;
  }
  if (!node_name_set || c.node_name.empty()) {
    if (std::optional<std::string> node = env("NODE_NAME")) c.node_name = *node;
  }
  if (Status st = Validate(c); !st.ok()) return st;
  if (check_config) parsed.action = Action::kCheckConfig;
  return parsed;
}

TerminationLog FindTerminationLog(const std::vector<std::string>& args) {
  constexpr std::string_view kFlag = "--termination-log";
  TerminationLog log{std::string(kDefaultTerminationLog), false};
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    std::optional<std::string_view> value;
    if (arg.substr(0, kFlag.size() + 1) == std::string(kFlag) + "=") {
      value = arg.substr(kFlag.size() + 1);
    } else if (arg == kFlag && i + 1 < args.size()) {
      value = args[++i];
    }
    if (value && IsAbsolute(*value)) log = {std::string(*value), true};
  }
  return log;
}

std::string Usage() {
  return R"(Usage: devicepool-agent [flags]

The HashFoundry per-node agent: discovers devices, serves them to the kubelet
as a device plugin and reports them in its DevicePoolNode.

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
)";
}

}  // namespace hf::agent
