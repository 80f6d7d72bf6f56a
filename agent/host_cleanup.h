// Host clean-up: what an agent removes from its node when its pool is
// deleted. The pool leaves two traces on a node: the simulated device files
// (<dev-root>/<prefix>-<i>, and their directory) and the CDI spec. A restart
// or an upgrade also stops the agent with SIGTERM, and then the traces must
// stay: running pods hold the device files through bind mounts, and the next
// agent serves the same ones. The signal does not say which it is, so at
// shutdown the agent reads its DevicePool (and has watched it while it ran,
// pool_watch.h): gone, being deleted, or replaced by a new pool of the same
// name (another uid) means deleted; anything it cannot find out (no answer,
// no permission, nothing watched) keeps the traces.
//
// DecideHostCleanup and HostTracesOf are pure; RemoveHostTraces and
// CleanUpHostIfPoolDeleted do the I/O around them.
//
// Thread-safety: pure functions, and one that reads the API server and
// removes files.
#ifndef HF_AGENT_HOST_CLEANUP_H_
#define HF_AGENT_HOST_CLEANUP_H_

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config.h"
#include "kube/clock.h"
#include "kube/status.h"

namespace hf::agent {

struct HostCleanupDecision {
  bool remove = false;
  std::string reason;  // for the log: why the traces go or stay
};

// `read` is the answer to GET devicepools/<name> at shutdown, `watched` the
// pool as PoolWatch last saw it; the read decides when it answered (the
// object, or NotFound), else the watch does: the pool's deletion removes the
// agent's RBAC, so a late read is often Forbidden. `pool_uid` is the uid the
// agent was started for (--pool-uid; empty: any uid is its pool);
// `socket_taken` whether another agent serves the same resource on this node
// (its socket exists after this agent removed its own): it may use the same
// files, so they stay.
HostCleanupDecision DecideHostCleanup(const kube::StatusOr<nlohmann::json>& read,
                                      const kube::StatusOr<nlohmann::json>& watched, std::string_view pool_uid,
                                      bool socket_taken);

struct HostTraces {
  std::vector<std::string> files;
  std::vector<std::string> dirs;  // removed only when empty, after the files
};

// The files the agent creates on the host for `config`: the simulated
// devices (not the paths or PCI discovery's: those belong to the host) and
// the CDI spec when CDI is on.
HostTraces HostTracesOf(const Config& config);

// Removes the files (missing ones are fine), then each directory if it is
// empty and not a mount point in use. Returns how many it removed.
int RemoveHostTraces(const HostTraces& traces);

// At shutdown, after the agent stopped serving: reads the pool through
// config.kubeconfig (with a short timeout: the kubelet's grace period is
// running) and removes HostTracesOf(config) when DecideHostCleanup says so,
// given `watched` (PoolWatch::Last). Logs what it did; never fails the
// shutdown. The read's client keeps time on `clock`.
void CleanUpHostIfPoolDeleted(const Config& config, const kube::StatusOr<nlohmann::json>& watched,
                              kube::Clock& clock = kube::DefaultClock());

}  // namespace hf::agent

#endif  // HF_AGENT_HOST_CLEANUP_H_
