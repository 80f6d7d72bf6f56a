// Desired children of a DevicePool, built by pure functions from the pool and
// the operator's config, so each is golden-tested and the reconciler only
// compares and applies. Every child carries the pool's controller
// ownerReference, the operator's labels, and a hash of itself so a field
// removed from the desired object is noticed too.
//
// Thread-safety: pure functions.
#ifndef HF_OPERATOR_DESIRED_H_
#define HF_OPERATOR_DESIRED_H_

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "api/device_pool.h"
#include "kube/rest/resource.h"
#include "operator/config.h"

namespace hf::controller {

using Json = nlohmann::json;

inline constexpr char kFieldManager[] = "devicepool-operator";
inline constexpr char kManagedByLabel[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedByValue[] = "devicepool-operator";
inline constexpr char kSpecHashAnnotation[] = "hashfoundry.com/spec-hash";
inline constexpr char kTemplateHashAnnotation[] = "hashfoundry.com/template-hash";

// devicepool-<pool>, shortened with a hash when it would pass 63 characters
// (Service names are DNS labels). Used for the ServiceAccount, DaemonSet,
// Service, ServiceMonitor and PrometheusRule.
std::string ChildName(const std::string& pool);
// hashfoundry-devicepool-<pool> for the ClusterRoleBinding.
std::string BindingName(const std::string& pool);

// The agent argument of a DRA pool's agents. A DevicePlugin pool's agents get
// no --allocation-api at all, so their pod template (and its hash) is what it
// was before DRA existed: an operator upgrade rolls no DevicePlugin pool.
inline constexpr char kDraAgentArg[] = "--allocation-api=DRA";

Json DesiredServiceAccount(const api::DevicePool& pool, const OperatorConfig& cfg);
Json DesiredClusterRoleBinding(const api::DevicePool& pool, const OperatorConfig& cfg);
// With `pinned_template`, the DaemonSet carries that pod template instead of
// the one the spec gives: the last good one, after a failed managed rollout.
Json DesiredDaemonSet(const api::DevicePool& pool, const OperatorConfig& cfg,
                      const Json* pinned_template = nullptr);
// A pod template's hashfoundry.com/template-hash annotation, or "".
std::string TemplateRevision(const Json& pod_template);
// Removes null members (a stored template's "creationTimestamp": null), so
// a template compares equal to what the server returns once applied.
void DropNulls(Json& j);
// The pod template a DaemonSet's ControllerRevision keeps (data.spec.template,
// its "$patch" and nulls dropped), or {} when it holds none.
Json ControllerRevisionTemplate(const Json& controller_revision);
Json DesiredService(const api::DevicePool& pool, const OperatorConfig& cfg);
// The monitoring.coreos.com kinds a pool may ask for; served only while
// their CRDs are installed.
kube::GroupVersionResource ServiceMonitors();
kube::GroupVersionResource PrometheusRules();
Json DesiredServiceMonitor(const api::DevicePool& pool, const OperatorConfig& cfg);
Json DesiredPrometheusRule(const api::DevicePool& pool, const OperatorConfig& cfg);

// resource.k8s.io/v1, served from Kubernetes 1.34 on. DeviceClasses and
// ResourceSlices are cluster-scoped, ResourceClaims namespaced.
kube::GroupVersionResource DeviceClasses();
kube::GroupVersionResource ResourceSlices();
kube::GroupVersionResource ResourceClaims();
// A DRA pool's DeviceClass, named api::DraDriverName(pool): it selects the
// devices of the pool's driver, and its extendedResourceName is the pool's
// resourceName, so pods asking for that resource in resources.limits are
// served through DRA on the pool's DRA nodes (KEP-5004); without it when
// `extended_resource` is false (an older DRA pool's class carries the name:
// api::ExtendedResourceKeeper).
Json DesiredDeviceClass(const api::DevicePool& pool, const OperatorConfig& cfg, bool extended_resource = true);

// The agent's command line for a pool (the DaemonSet's args).
std::vector<std::string> AgentArgs(const api::DevicePool& pool, const OperatorConfig& cfg);

// True when every field of `desired` has the same value in `actual` (arrays
// element by element; resource `limits` and `requests` as quantities, so
// "0.5" matches the server's "500m"): what the server holds already says what
// we would apply, so applying would change nothing.
bool IsSubset(const Json& desired, const Json& actual);

// A Kubernetes resource quantity's exact value: digits x 10^exponent, with no
// leading or trailing zeros in digits (zero is digits "" and exponent 0).
struct DecimalValue {
  bool negative = false;
  std::string digits;
  int exponent = 0;
  bool operator==(const DecimalValue&) const = default;
};

// Parses a quantity ("500m", "0.5", "1Gi", "2e3"); nullopt if it is not one.
std::optional<DecimalValue> ParseQuantity(std::string_view s);

// An extended resource's quantity as a whole count of devices ("4", "0",
// "1k"); 0 for anything else (negative, fractional, beyond 10^9, not a
// quantity).
int64_t DeviceCount(std::string_view quantity);

// A short stable hash (hex) of a JSON value.
std::string HashJson(const Json& j);

}  // namespace hf::controller

#endif  // HF_OPERATOR_DESIRED_H_
