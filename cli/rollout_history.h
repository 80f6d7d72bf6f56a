// `kubectl devicepool rollout history|undo POOL`: the agent templates the
// pool's DaemonSet has run, from its ControllerRevisions (the DaemonSet
// controller keeps revisionHistoryLimit of them), beside the managed
// rollout's status; and the spec change that brings an earlier one back.
//
// The pool's spec is the source of truth for the agent template, so undo
// changes the spec: only spec.agent.image, and only when the two templates
// differ in nothing else (the rest is restored from where the spec lives,
// e.g. Git). Pure functions; main.cc reads and patches.
#ifndef HF_CLI_ROLLOUT_HISTORY_H_
#define HF_CLI_ROLLOUT_HISTORY_H_

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/device_pool.h"
#include "kube/status.h"

namespace hf::cli {

struct Revision {
  int64_t number = 0;    // the ControllerRevision's revision
  std::string hash;      // hashfoundry.com/template-hash
  std::string image;     // the agent container's
  std::string created;   // RFC 3339
  int nodes = 0;         // agent pods running it
  std::string state;     // "current", "rolling out", "failed", or ""
  nlohmann::json pod_template;
};

// Revisions, oldest first. `spec_hash` is the template the DaemonSet asks
// for now; `rollout` the pool's status.rollout.
std::vector<Revision> Revisions(const std::vector<nlohmann::json>& controller_revisions,
                                const std::vector<nlohmann::json>& agent_pods, const api::RolloutStatus& rollout);

std::string RenderHistory(const std::string& pool, const std::vector<Revision>& revisions, const std::string& spec_hash);

// The revision undo goes back to: `to` when given (by number), else the last
// good one while a rollout is under way, else the newest that the DaemonSet
// does not run now.
kube::StatusOr<Revision> UndoTarget(const std::vector<Revision>& revisions, const std::string& spec_hash,
                                    const api::RolloutStatus& rollout, std::optional<int64_t> to);

// The merge patch of the pool that makes `target` its agent template again,
// or why there is none.
kube::StatusOr<nlohmann::json> UndoPatch(const Revision& from, const Revision& target);

}  // namespace hf::cli

#endif  // HF_CLI_ROLLOUT_HISTORY_H_
