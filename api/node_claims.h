// Which nodes a pool runs on when pools with the same resourceName select
// the same node: only one agent may advertise a resource on a node, so one
// pool keeps it. The operator labels by this, and `kubectl devicepool
// diagnose` explains by it, so both say the same.
//
// Thread-safety: pure function.
#ifndef HF_API_NODE_CLAIMS_H_
#define HF_API_NODE_CLAIMS_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "api/device_pool.h"

namespace hf::api {

// A Node as the choice needs it.
struct NodeLabels {
  const std::string& name;
  const std::map<std::string, std::string>& labels;
};

struct NodeClaims {
  int selected = 0;                              // nodes the pool's nodeSelector matches
  std::set<std::string> wanted;                  // of those, the nodes it keeps
  std::map<std::string, std::string> conflicts;  // the others: node -> the pool that keeps it
};

// The nodes `pool` keeps among `nodes`. Rivals are the live pools in `pools`
// (pool itself, pools being deleted and other resourceNames are skipped)
// whose selector matches the node too. The oldest pool keeps a node.
// creationTimestamp has whole seconds, so on a tie the pool that already
// labels the node (NodeSelectionLabel) keeps it, then the smaller name:
// stable, and never a flip-flop between two pools.
NodeClaims ClaimNodes(const DevicePool& pool, const std::vector<const DevicePool*>& pools,
                      const std::vector<NodeLabels>& nodes);

// DRA pools with the same resourceName: each has its own DeviceClass, but
// Kubernetes serves pods asking for the extended resource from one class
// only (the newest with that extendedResourceName), so only one class may
// carry it. The oldest live DRA pool keeps it (creationTimestamp, then the
// smaller name). Returns the live DRA pool in `pools` other than `pool`
// that keeps it from `pool`, or "" when `pool` may carry it.
std::string ExtendedResourceKeeper(const DevicePool& pool, const std::vector<const DevicePool*>& pools);

}  // namespace hf::api

#endif  // HF_API_NODE_CLAIMS_H_
