// OperatorConfig: what the operator knows about where it runs, from its flags
// (the chart sets them). Desired-object functions read it; nothing else does.
//
// Thread-safety: a plain value.
#ifndef HF_OPERATOR_CONFIG_H_
#define HF_OPERATOR_CONFIG_H_

#include <string>

namespace hf::controller {

struct OperatorConfig {
  // Where namespaced children (DaemonSet, ServiceAccount, Service,
  // ServiceMonitor, PrometheusRule) live: the operator's own namespace.
  std::string namespace_ = "hashfoundry-system";
  // The agent image when a pool names none: the operator's own image.
  std::string agent_image = "hashfoundry/device-operator:0.1.0";
  // The chart's agent ClusterRole each pool's ServiceAccount is bound to.
  std::string agent_cluster_role = "hashfoundry-device-operator-agent";
  int agent_http_port = 8080;
  // Host paths the agent needs; the same path inside the container, so
  // paths the agent hands the kubelet mean the same on the host.
  std::string kubelet_plugins_dir = "/var/lib/kubelet/device-plugins";
  std::string pod_resources_dir = "/var/lib/kubelet/pod-resources";
  std::string cdi_dir = "/var/run/cdi";
  // DRA pools: where a DRA driver serves its kubelet plugin socket
  // (<dra_plugins_dir>/<driver>/), and where the kubelet's plugin manager
  // looks for registration sockets.
  std::string dra_plugins_dir = "/var/lib/kubelet/plugins";
  std::string plugins_registry_dir = "/var/lib/kubelet/plugins_registry";
  // Simulated devices are regular files under <simulated_root>/<pool>.
  std::string simulated_root = "/var/lib/hashfoundry/devices";
};

}  // namespace hf::controller

#endif  // HF_OPERATOR_CONFIG_H_
