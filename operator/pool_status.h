// ComputeStatus: the DevicePool status the operator writes, as a pure function
// of what the reconciler observed, so every condition and count is
// golden-tested. Conditions keep their lastTransitionTime while their status
// stays the same, so a resync with nothing new produces an equal status and
// no write.
//
// Thread-safety: pure function.
#ifndef HF_OPERATOR_POOL_STATUS_H_
#define HF_OPERATOR_POOL_STATUS_H_

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/device_pool.h"
#include "api/device_pool_node.h"

namespace hf::controller {

struct Observed {
  int selected = 0;  // nodes matching the selector
  int labelled = 0;  // of those, carrying the pool label now
  // Nodes an older pool with the same resource name keeps, and that pool.
  std::map<std::string, std::string> conflicts;  // node -> pool
  // The DevicePoolNodes of labelled nodes.
  std::vector<api::DevicePoolNode> reports;
  // The DaemonSet as the server holds it; nullopt before it exists.
  std::optional<nlohmann::json> daemon_set;
  bool monitoring_wanted = false;  // ServiceMonitor or PrometheusRule enabled
  bool monitoring_served = false;  // their CRDs are installed
  std::string error;               // a reconcile step failed, or ""
};

api::DevicePoolStatus ComputeStatus(const api::DevicePool& pool, const Observed& seen,
                                    std::chrono::system_clock::time_point now);

// The status of a pool whose spec could not be decoded.
api::DevicePoolStatus InvalidStatus(const kube::ObjectMeta& meta, const api::DevicePoolStatus& current,
                                    const std::string& why, std::chrono::system_clock::time_point now);

}  // namespace hf::controller

#endif  // HF_OPERATOR_POOL_STATUS_H_
