// Config: everything the agent is told on its command line, and ParseFlags,
// which turns argv into a validated Config. The flag names are a contract
// with the operator, which writes them into the agent DaemonSet.
//
// Thread-safety: plain values and pure functions.
#ifndef HF_AGENT_CONFIG_H_
#define HF_AGENT_CONFIG_H_

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/device_pool.h"
#include "kube/status.h"

namespace hf::agent {

enum class DiscoveryMode { kSimulated, kPaths, kPci };

// Which kubelet API serves the devices: the device plugin API (v1beta1), or
// Dynamic Resource Allocation (dra/v1 with ResourceSlices).
enum class AllocationApi { kDevicePlugin, kDra };

inline constexpr std::string_view kDefaultTerminationLog = "/dev/termination-log";

struct Config {
  std::string pool;
  std::string pool_uid;
  std::string resource_name = "hashfoundry.com/custom-device";
  std::string node_name;
  // Which DaemonSet pod template started this agent (the operator passes its
  // hashfoundry.com/template-hash); reported as status.agentRevision.
  std::string revision;

  DiscoveryMode discovery = DiscoveryMode::kSimulated;
  int simulated_count = 4;
  std::string simulated_prefix = "hashfoundry-device";
  std::vector<std::string> path_globs;  // each passes api::ValidateDeviceGlob
  std::string pci_vendor;                // 4 lower-case hex digits
  std::vector<std::string> pci_devices;  // empty: every device of the vendor

  int replicas = 1;
  api::AllocationPolicy allocation_policy = api::AllocationPolicy::kPacked;
  std::chrono::milliseconds health_interval{std::chrono::seconds(30)};

  AllocationApi allocation_api = AllocationApi::kDevicePlugin;
  // DRA: the driver name (the operator passes <pool>.devicepool.hashfoundry.com),
  // and the kubelet's plugin directories.
  std::string driver_name;
  std::string plugins_dir = "/var/lib/kubelet/plugins";
  std::string plugins_registry_dir = "/var/lib/kubelet/plugins_registry";

  bool cdi = false;
  std::string cdi_dir = "/var/run/cdi";
  std::string kubelet_dir = "/var/lib/kubelet/device-plugins";
  std::string pod_resources_socket = "/var/lib/kubelet/pod-resources/kubelet.sock";
  std::string dev_root = "/dev";
  std::string sys_root = "/sys";

  std::string http_address = ":8080";
  std::string log_level = "info";
  std::string log_format = "text";
  std::string kubeconfig;  // empty: $KUBECONFIG, in-cluster, ~/.kube/config
  bool report = true;
  // Where a fatal error goes besides stderr: Kubernetes' default
  // terminationMessagePath, shown in the pod's status.
  std::string termination_log = std::string(kDefaultTerminationLog);

  // <kubelet_dir>/<resource name with '/' as '_'>.sock
  std::string SocketPath() const;
  std::string SocketName() const;
};

// What main does after parsing. kCheckConfig (--check-config) stops after
// the flags parsed and validated as for a run.
enum class Action { kRun, kHelp, kVersion, kCheckConfig };

struct ParsedFlags {
  Action action = Action::kRun;
  Config config;
};

// Looks up an environment variable; nullopt when unset. Injected so tests
// do not depend on the process environment.
using GetEnv = std::function<std::optional<std::string>(std::string_view)>;

// Parses `--name=value`, `--name value` and, for booleans, bare `--name`
// (kube/flags); --help, -h and --version stop there and return their Action.
// NODE_NAME (via `env`) is the fallback for --node-name. Invalid, naming the
// flag, for an unknown flag, a missing or malformed value, or a combination
// that cannot work (e.g. --discovery=paths without --path-glob).
kube::StatusOr<ParsedFlags> ParseFlags(const std::vector<std::string>& args, const GetEnv& env);

// Where to write the termination message when ParseFlags failed: the last
// --termination-log given (whatever else is wrong), else the default; and
// whether it was given explicitly.
struct TerminationLog {
  std::string path;
  bool explicit_path = false;
};
TerminationLog FindTerminationLog(const std::vector<std::string>& args);

// The --help text.
std::string Usage();

}  // namespace hf::agent

#endif  // HF_AGENT_CONFIG_H_
