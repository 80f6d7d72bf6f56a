// DevicePool (hashfoundry.com/v1alpha1, cluster-scoped): the typed form of
// crds/devicepools.hashfoundry.com.yaml and its one JSON codec.
//
// DecodeDevicePool applies the CRD's defaults, so a pool decoded from a bare
// spec and one decoded from what the API server stored (after defaulting)
// are equal, and the CRD's checks on values: types, required fields, enums,
// ranges, exactly one discovery method, the resourceName, durations, hex
// ids, globs, the image, label keys and values, toleration and selector
// rules. The CRD refuses what the API server or the agent would refuse
// later (a DaemonSet with maxUnavailable 0, an agent flag), and so does the
// codec: tests/crds checks the two agree. Size limits (maxItems, maxLength)
// are left to the API server. A malformed object, whatever its JSON, is an
// Invalid Status naming the field instead of an exception. The operator
// never writes a pool's spec, so only the status has an encoder.
//
// Thread-safety: plain values and pure functions.
#ifndef HF_API_DEVICE_POOL_H_
#define HF_API_DEVICE_POOL_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/condition.h"
#include "api/json_field.h"
#include "api/label_selector.h"
#include "kube/meta/object_meta.h"
#include "kube/status.h"

namespace hf::api {

// Regular files the agent creates as stand-in devices: <prefix>-<n>.
struct SimulatedDiscovery {
  int count = 4;  // 1..1024
  std::string prefix = "hashfoundry-device";
  bool operator==(const SimulatedDiscovery&) const = default;
};

// Every file a glob under /dev or /sys matches is a device (see
// ValidateDeviceGlob).
struct PathsDiscovery {
  std::vector<std::string> globs;  // at least one
  bool operator==(const PathsDiscovery&) const = default;
};

// PCI functions of a vendor (and, if given, of these device ids), as 4 hex
// digits without 0x, as written in the spec.
struct PciDiscovery {
  std::string vendor;
  std::vector<std::string> devices;  // empty: every device of the vendor
  bool operator==(const PciDiscovery&) const = default;
};

// Exactly one discovery method.
using Discovery = std::variant<SimulatedDiscovery, PathsDiscovery, PciDiscovery>;

enum class AllocationPolicy { kPacked, kBalanced, kNone };
enum class PullPolicy { kAlways, kIfNotPresent, kNever };
enum class LogLevel { kDebug, kInfo, kWarn, kError };
// How pods get the devices: the kubelet device plugin API, or Dynamic
// Resource Allocation (resource.k8s.io/v1: the agent publishes ResourceSlices
// and the operator a DeviceClass, see DraDriverName in api/names.h).
enum class AllocationApi { kDevicePlugin, kDra };

// "packed", "IfNotPresent", "info", "DRA": the spellings of the spec.
std::string_view AllocationPolicyName(AllocationPolicy policy);
std::string_view AllocationApiName(AllocationApi api);
std::string_view PullPolicyName(PullPolicy policy);
std::string_view LogLevelName(LogLevel level);

// A core Toleration; empty strings are absent fields (empty operator means
// Equal, empty effect every effect), as in the core API.
struct Toleration {
  std::string key;
  std::string op;
  std::string value;
  std::string effect;
  std::optional<int64_t> toleration_seconds;

  // The core JSON shape, for the agent pod template.
  nlohmann::json ToJson() const;
  bool operator==(const Toleration&) const = default;
};

// A core ResourceRequirements subset; quantities as written ("128Mi";
// integers become their decimal string).
struct ResourceRequirements {
  std::map<std::string, std::string> limits;
  std::map<std::string, std::string> requests;

  // The core JSON shape; empty maps are left out.
  nlohmann::json ToJson() const;
  bool operator==(const ResourceRequirements&) const = default;
};

struct AgentSpec {
  std::optional<std::string> image;  // absent: the operator's own image
  std::optional<PullPolicy> image_pull_policy;  // absent: Kubernetes' default for the tag
  std::vector<std::string> image_pull_secrets;  // Secret names
  ResourceRequirements resources;
  std::vector<Toleration> tolerations;
  std::optional<std::string> priority_class_name;
  LogLevel log_level = LogLevel::kInfo;
  bool operator==(const AgentSpec&) const = default;
};

// An IntOrString that is a positive count or a 1..100 percentage.
struct IntOrPercent {
  int64_t value = 0;
  bool percent = false;

  // 3 or "25%".
  nlohmann::json ToJson() const;
  bool operator==(const IntOrPercent&) const = default;
};

struct ServiceMonitorSpec {
  bool enabled = true;
  std::string interval = "30s";
  std::map<std::string, std::string> labels;
  bool operator==(const ServiceMonitorSpec&) const = default;
};

// Thresholds of the alerts DevicePluginDown (and DevicePluginNotRegistered), DeviceUnhealthy and
// DeviceAllocationHigh. Durations are written as Prometheus "for" values.
struct PrometheusRuleSpec {
  bool enabled = true;
  std::map<std::string, std::string> labels;
  std::string plugin_down_for = "5m";
  std::string unhealthy_for = "5m";
  double allocation_high_ratio = 0.9;  // 0..1
  std::string allocation_high_for = "10m";
  bool operator==(const PrometheusRuleSpec&) const = default;
};

struct SharingSpec {
  int replicas = 1;  // 1..64; each device is advertised as <id>::<n>
  bool operator==(const SharingSpec&) const = default;
};

struct AllocationSpec {
  AllocationPolicy policy = AllocationPolicy::kPacked;
  bool operator==(const AllocationSpec&) const = default;
};

struct HealthSpec {
  std::string interval = "30s";  // ParseDuration syntax
  bool operator==(const HealthSpec&) const = default;
};

struct CdiSpec {
  bool enabled = false;
  bool operator==(const CdiSpec&) const = default;
};

// How a new agent pod template reaches the nodes. Managed: the DaemonSet
// uses OnDelete and the operator replaces agents itself, canary nodes first,
// each node gated on its devices being back (operator/rollout.h).
// RollingUpdate: the DaemonSet controller rolls with maxUnavailable.
enum class RolloutStrategy { kManaged, kRollingUpdate };
std::string_view RolloutStrategyName(RolloutStrategy strategy);

struct CanarySpec {
  IntOrPercent nodes{1, false};  // a percentage of the pool's nodes, rounded up
  std::string bake_time = "2m";  // ParseDuration syntax; 0 allowed
  bool operator==(const CanarySpec&) const = default;
};

struct RolloutSpec {
  RolloutStrategy strategy = RolloutStrategy::kManaged;
  CanarySpec canary;
  IntOrPercent max_unavailable{1, false};  // the waves after the canary; at least one node
  std::string progress_deadline = "5m";    // per node; more than 0
  bool auto_rollback = true;
  bool paused = false;
  bool operator==(const RolloutSpec&) const = default;
};

struct MonitoringSpec {
  ServiceMonitorSpec service_monitor;
  PrometheusRuleSpec prometheus_rule;
  bool operator==(const MonitoringSpec&) const = default;
};

struct DevicePoolSpec {
  std::string resource_name;  // immutable
  // DRA needs a pool name of at most kMaxDraPoolNameLength characters.
  AllocationApi allocation_api = AllocationApi::kDevicePlugin;
  LabelSelector node_selector;  // empty selects every node
  Discovery discovery;
  SharingSpec sharing;
  AllocationSpec allocation;
  HealthSpec health;
  CdiSpec cdi;
  AgentSpec agent;
  RolloutSpec rollout;
  MonitoringSpec monitoring;
  bool operator==(const DevicePoolSpec&) const = default;
};

struct NodeCounts {
  int selected = 0;
  int labelled = 0;
  int registered = 0;  // agent registered with the kubelet
  int ready = 0;       // registered and the agent pod ready
  bool operator==(const NodeCounts&) const = default;
};

// Advertised devices, after sharing. Also DevicePoolNode's counts.
struct DeviceCounts {
  int total = 0;
  int healthy = 0;
  int allocated = 0;
  bool operator==(const DeviceCounts&) const = default;
};

struct DaemonSetCounts {
  int desired = 0;
  int updated = 0;
  int ready = 0;
  int available = 0;
  bool operator==(const DaemonSetCounts&) const = default;
};

// A node needing attention; reason e.g. "Conflict" for a node an older pool
// with the same resourceName holds.
struct ProblemNode {
  std::string node;
  std::string reason;
  std::string message;
  bool operator==(const ProblemNode&) const = default;
};

// The CRD's bound on status.problemNodes; the encoder keeps the first ones.
inline constexpr size_t kMaxProblemNodes = 10;

enum class RolloutPhase { kIdle, kCanary, kProgressing, kPaused, kFailed, kRolledBack, kComplete };
// "Idle", "Canary", ...: the spellings of status.rollout.phase.
std::string_view RolloutPhaseName(RolloutPhase phase);

// A node whose agent the operator replaced and whose gate it is watching.
struct RolloutNode {
  std::string node;
  bool canary = false;
  std::string started_at;  // RFC 3339: when its old agent pod was deleted
  int healthy_before = 0;  // healthy devices (after sharing) before that
  std::string passed_at;   // when the gate first held; "" while it has not
  bool operator==(const RolloutNode&) const = default;
};

// A node whose gate failed, and which: e.g. gate "Registered".
struct RolloutFailure {
  std::string node;
  std::string gate;
  std::string message;
  bool operator==(const RolloutFailure&) const = default;
};

// The bounds the CRD declares on status.rollout's lists.
inline constexpr size_t kMaxRolloutNodes = 100;
inline constexpr size_t kMaxRolloutFailures = 10;

// status.rollout: where a managed rollout stands. Revisions are the pod
// template hashes the agent pods carry (hashfoundry.com/template-hash).
struct RolloutStatus {
  RolloutPhase phase = RolloutPhase::kIdle;
  std::string current_revision;  // the last good template
  std::string update_revision;   // the template being rolled out
  std::string failed_revision;   // not retried until the spec's template changes
  int updated_nodes = 0;         // nodes running update_revision whose gate held
  int total_nodes = 0;
  std::vector<RolloutNode> nodes;          // replaced, gate pending or baking
  std::vector<RolloutFailure> failed;
  std::string message;
  std::string start_time;       // RFC 3339
  std::string completion_time;  // RFC 3339; "" until Complete, Failed or RolledBack
  bool operator==(const RolloutStatus&) const = default;
};

struct DevicePoolStatus {
  int64_t observed_generation = 0;
  std::vector<Condition> conditions;
  NodeCounts nodes;
  DeviceCounts devices;
  DaemonSetCounts daemon_set;
  std::vector<ProblemNode> problem_nodes;
  RolloutStatus rollout;
  bool operator==(const DevicePoolStatus&) const = default;
};

struct DevicePool {
  kube::ObjectMeta metadata;
  DevicePoolSpec spec;
  DevicePoolStatus status;
};

// The whole object as read from the API (or a manifest). Invalid Status,
// listing every problem with its path, for anything the CRD would reject
// and for wrong JSON types; never throws.
kube::StatusOr<DevicePool> DecodeDevicePool(const nlohmann::json& obj);

// The `status` stanza, for an apply or update on the status subresource.
// The status alone, leniently (what cannot be read is left at its zero
// value): for pools whose spec does not decode.
DevicePoolStatus DecodeDevicePoolStatus(const nlohmann::json& obj);
nlohmann::json EncodeDevicePoolStatus(const DevicePoolStatus& status);
// status.rollout alone, as EncodeDevicePoolStatus writes it.
nlohmann::json EncodeRolloutStatus(const RolloutStatus& rollout);

// The kubelet's check of a device plugin's resource name (and the CRD's):
// <DNS subdomain>/<name of at most 63 characters>, not kubernetes.io/ or
// *.kubernetes.io/, not starting with "requests.". Invalid on failure.
kube::Status ValidateResourceName(std::string_view name);

// An image reference as the kubelet parses it (distribution/reference):
// [registry[:port]/]name[:tag][@digest], the name lower-case and at most 255
// characters. Invalid, saying what is wrong, otherwise.
kube::Status ValidateImageReference(std::string_view image);

// A discovery glob the agent may expand: absolute and under /dev/ or /sys/,
// normalised (no empty segment, none starting with '.', so no . or .. and
// no pattern that matches them), no backslash or control characters, and
// {a,b} groups whose alternatives hold no '.', '/' or '{'. The agent checks where
// each match really is as well (symlinks); this keeps the spec honest.
kube::Status ValidateDeviceGlob(std::string_view glob);

namespace internal {
// Shared with DevicePoolNode, whose status.counts has the same shape.
DeviceCounts DecodeDeviceCounts(const Field& field);
nlohmann::json EncodeDeviceCounts(const DeviceCounts& counts);
}  // namespace internal

// Parses the duration syntax the CRD allows, one or more <digits><unit> with
// unit ms, s, m or h ("30s", "1h30m"), valid for both Go and Prometheus, up
// to Go's largest time.Duration (about 292 years).
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view s);

}  // namespace hf::api

#endif  // HF_API_DEVICE_POOL_H_
