#include "operator/rollout.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "kube/rest/credentials.h"

namespace hf::controller {
namespace {

using std::chrono::milliseconds;
using TimePoint = std::chrono::system_clock::time_point;

TimePoint ParseTime(const std::string& s, TimePoint fallback) {
  TimePoint t;
  return kube::ParseRfc3339(s, &t) ? t : fallback;
}

milliseconds DurationOr(const std::string& s, milliseconds fallback) {
  return api::ParseDuration(s).value_or(fallback);
}

std::string Short(const std::string& revision) { return revision.substr(0, 10); }

struct Gate {
  const char* name;
  std::string message;
};

// The first gate that does not hold for a node replaced to `target`.
// When restoring a known good revision, a report without a revision is from
// that revision too: agents of an operator from before revisions wrote none.
std::optional<Gate> CheckGate(const RolloutNodeView& v, const api::RolloutNode& e, const std::string& target,
                              bool restoring) {
  if (!v.node_ready) return Gate{kGateAgentReady, "the node is not Ready"};
  if (!v.pod || v.pod->revision != target) {
    return Gate{kGateAgentRunning, v.pod_terminating ? "the old agent pod is still terminating"
                                                     : "no agent pod of revision " + Short(target) + " yet"};
  }
  if (v.pod->restarts > 0 && !v.pod->ready) {
    std::string msg = "the new agent restarted " + std::to_string(v.pod->restarts) + " time(s)";
    if (!v.pod->last_exit.empty()) msg += "; last " + v.pod->last_exit;
    return Gate{kGateAgentRunning, msg};
  }
  if (!v.report) return Gate{kGateReported, "no DevicePoolNode yet"};
  if (v.report->revision != target && !(restoring && v.report->revision.empty())) {
    return Gate{kGateReported, "its DevicePoolNode was last written by revision " +
                                   (v.report->revision.empty() ? std::string("(none)") : Short(v.report->revision)) +
                                   ", not " + Short(target)};
  }
  if (!v.report->registered) return Gate{kGateRegistered, "the new agent is not registered with the kubelet"};
  if (v.report->healthy < e.healthy_before) {
    return Gate{kGateDevicesHealthy, std::to_string(v.report->healthy) + " healthy device(s), fewer than the " +
                                         std::to_string(e.healthy_before) + " before the replacement"};
  }
  const int64_t want = std::max(e.healthy_before, 0);
  // A switch of the allocation API compares the devices the node offered
  // one way with what it offers the other: the same inventory.
  const int64_t offered = (v.pod->dra ? v.published : v.allocatable).value_or(0);
  if (offered < want) {
    return Gate{kGateAllocatable, (v.pod->dra ? "the node's ResourceSlices publish " + std::to_string(offered) +
                                                    " device(s)"
                                              : "the Node's allocatable is " + std::to_string(offered)) +
                                      ", not yet back to " + std::to_string(want)};
  }
  if (!v.pod->ready) return Gate{kGateAgentReady, "the new agent pod is not Ready"};
  return std::nullopt;
}

void Emit(RolloutDecision& d, kube::EventType type, std::string reason, std::string message) {
  d.events.push_back({type, std::move(reason), std::move(message)});
}

void Requeue(RolloutDecision& d, milliseconds after) {
  after = std::max(after, milliseconds(0)) + milliseconds(200);
  if (!d.requeue_after || after < *d.requeue_after) d.requeue_after = after;
}

std::string JoinNodes(const std::vector<std::string>& nodes) {
  std::string out;
  for (size_t i = 0; i < nodes.size() && i < 5; ++i) out += (i ? ", " : "") + nodes[i];
  if (nodes.size() > 5) out += " and " + std::to_string(nodes.size() - 5) + " more";
  return out;
}

int CountUpdated(const RolloutInput& in, const api::RolloutStatus& r) {
  std::set<std::string> gating;
  for (const auto& e : r.nodes) {
    if (e.passed_at.empty()) gating.insert(e.node);
  }
  int n = 0;
  for (const auto& [name, v] : in.nodes) {
    if (v.pod && v.pod->revision == r.update_revision && !gating.count(name)) ++n;
  }
  return n;
}

}  // namespace

int ResolveCount(const api::IntOrPercent& v, int total) {
  int64_t n = v.percent ? (static_cast<int64_t>(total) * v.value + 99) / 100 : v.value;
  return static_cast<int>(std::clamp<int64_t>(n, 1, std::max(total, 1)));
}

api::RolloutStatus ObserveRollingUpdate(const RolloutInput& in) {
  api::RolloutStatus r = in.previous;
  const std::string rev = in.daemon_set_revision.empty() ? in.spec_revision : in.daemon_set_revision;
  r.total_nodes = static_cast<int>(in.nodes.size());
  r.nodes.clear();
  r.failed.clear();
  r.failed_revision.clear();
  if (r.update_revision != rev) {
    if (!r.update_revision.empty()) r.start_time = api::FormatTime(in.now);
    r.completion_time.clear();
    r.update_revision = rev;
  }
  if (r.current_revision.empty()) r.current_revision = rev;
  int updated = 0;
  for (const auto& [name, v] : in.nodes) {
    if (v.pod && v.pod->revision == rev && v.pod->ready) ++updated;
  }
  r.updated_nodes = updated;
  if (updated == r.total_nodes) {
    r.current_revision = rev;
    if (r.phase != api::RolloutPhase::kIdle || !r.start_time.empty()) {
      r.phase = api::RolloutPhase::kComplete;
      if (r.completion_time.empty()) r.completion_time = api::FormatTime(in.now);
    }
    r.message = "revision " + Short(rev) + " runs on all " + std::to_string(r.total_nodes) +
                " node(s) (RollingUpdate: readiness only, no device gate)";
  } else {
    r.phase = api::RolloutPhase::kProgressing;
    r.message = std::to_string(updated) + "/" + std::to_string(r.total_nodes) + " node(s) run revision " +
                Short(rev) + " and are ready (RollingUpdate)";
  }
  return r;
}

RolloutDecision PlanRollout(const RolloutInput& in) {
  using api::RolloutPhase;
  RolloutDecision d;
  api::RolloutStatus& r = d.status;
  r = in.previous;
  const TimePoint now = in.now;
  const int total = static_cast<int>(in.nodes.size());
  r.total_nodes = total;
  const milliseconds deadline = DurationOr(in.spec.progress_deadline, std::chrono::minutes(5));
  const milliseconds bake = DurationOr(in.spec.canary.bake_time, std::chrono::minutes(2));

  // A pool seen for the first time: what the DaemonSet runs (an operator
  // upgrade rolls from there), or the spec's template for a new pool.
  if (r.current_revision.empty()) {
    r.current_revision = in.daemon_set_revision.empty() ? in.spec_revision : in.daemon_set_revision;
    r.update_revision = r.current_revision;
    r.phase = RolloutPhase::kIdle;
  }

  // A failed revision is not tried again until the spec's template changes.
  bool retarget = false;
  if (!r.failed_revision.empty() && in.spec_revision != r.failed_revision) {
    r.failed_revision.clear();
    r.failed.clear();
    retarget = true;
  }
  std::string target = r.failed_revision.empty() ? in.spec_revision : r.current_revision;

  if (target != r.update_revision || retarget) {
    const bool forward = target != r.current_revision;
    r.update_revision = target;
    r.nodes.clear();
    r.start_time = api::FormatTime(now);
    r.completion_time.clear();
    r.phase = forward ? RolloutPhase::kCanary : RolloutPhase::kProgressing;
    r.message.clear();
    Emit(d, kube::EventType::kNormal, "RolloutStarted",
         forward ? "rolling out agent revision " + Short(target) + " (from " + Short(r.current_revision) +
                       "): canary first"
                 : "restoring agent revision " + Short(target) + " on the nodes that run another");
  }
  d.template_revision = target;

  if (r.phase == RolloutPhase::kFailed) {
    if (!(in.spec.auto_rollback && !r.failed_revision.empty())) {
      // Stopped: nothing is replaced until the template changes.
      r.nodes.clear();
      r.updated_nodes = CountUpdated(in, r);
      return d;
    }
    r.phase = RolloutPhase::kRolledBack;  // autoRollback switched on afterwards
    r.completion_time.clear();
    r.nodes.clear();
  }

  // The nodes in flight: gate each.
  std::vector<api::RolloutNode> keep;
  std::optional<api::RolloutFailure> failure;
  std::string waiting;  // the first gate still pending, for the message
  for (api::RolloutNode e : r.nodes) {
    auto it = in.nodes.find(e.node);
    if (it == in.nodes.end()) continue;  // gone or left the pool: nothing to gate
    const RolloutNodeView& v = it->second;
    // Recorded but its old pod still live: an operator stopped between the
    // status write and the delete. Delete it now.
    if (v.pod && v.pod->revision != target && !v.pod_terminating) d.replace.push_back(e.node);
    const TimePoint started = ParseTime(e.started_at, now);
    if (auto gate = CheckGate(v, e, target, target == r.current_revision)) {
      const bool crashing = v.pod && v.pod->revision == target && v.pod->restarts >= kCrashRestarts;
      const bool late = now - started >= deadline;
      const bool broke = !e.passed_at.empty();  // a canary whose gate held while baking
      if (crashing || late || broke) {
        std::string why = crashing ? "crash-looping" : broke ? "stopped holding while baking" : "not met within " +
                                                                                                 in.spec.progress_deadline;
        failure = api::RolloutFailure{e.node, gate->name, why + ": " + gate->message};
        break;
      }
      if (waiting.empty()) {
        waiting = "waiting for gate " + std::string(gate->name) + " on node " + e.node + ": " + gate->message;
      }
      Requeue(d, std::chrono::duration_cast<milliseconds>(started + deadline - now));
      keep.push_back(std::move(e));
      continue;
    }
    if (e.passed_at.empty()) e.passed_at = api::FormatTime(now);
    if (e.canary && r.phase == RolloutPhase::kCanary) keep.push_back(std::move(e));  // bakes
  }

  if (failure) {
    const std::string failed = r.update_revision;
    r.failed.insert(r.failed.begin(), *failure);
    if (r.failed.size() > api::kMaxRolloutFailures) r.failed.resize(api::kMaxRolloutFailures);
    r.nodes.clear();
    d.replace.clear();
    const std::string what = "gate " + failure->gate + " failed on node " + failure->node + ": " + failure->message;
    if (failed == r.current_revision) {
      // Restoring the last good revision failed: something else is wrong.
      r.phase = RolloutPhase::kFailed;
      r.completion_time = api::FormatTime(now);
      r.message = "restoring revision " + Short(failed) + ": " + what;
      Emit(d, kube::EventType::kWarning, "RolloutFailed", r.message);
      r.updated_nodes = CountUpdated(in, r);
      return d;
    }
    r.failed_revision = failed;
    r.update_revision = r.current_revision;
    target = r.current_revision;
    d.template_revision = target;
    r.message = "revision " + Short(failed) + " stopped: " + what;
    Emit(d, kube::EventType::kWarning, "RolloutFailed", r.message);
    if (!in.spec.auto_rollback) {
      r.phase = RolloutPhase::kFailed;
      r.completion_time = api::FormatTime(now);
      r.message += "; the DaemonSet is back on revision " + Short(target) +
                   ", and the failed nodes keep the new agent (autoRollback is off)";
      r.updated_nodes = CountUpdated(in, r);
      return d;
    }
    r.phase = RolloutPhase::kRolledBack;
    r.message += "; rolling back to revision " + Short(target);
    keep.clear();
  }

  // Nodes still to replace: a live agent of another revision on a Ready node.
  std::set<std::string> in_flight;
  for (const auto& e : keep) in_flight.insert(e.node);
  struct Candidate {
    bool not_ready;
    int allocated;
    std::string node;
    bool operator<(const Candidate& o) const {
      return std::tie(not_ready, allocated, node) < std::tie(o.not_ready, o.allocated, o.node);
    }
  };
  std::vector<Candidate> pending;
  int waiting_elsewhere = 0;  // pending, but on a node that is not Ready
  // Pending, but claims hold the DRA devices of the node's agent, which the
  // target's agent does not serve: why, per node.
  std::vector<std::string> held;
  const bool to_dra = in.dra_revisions.count(target) > 0;
  for (const auto& [name, v] : in.nodes) {
    if (in_flight.count(name) || !v.pod || v.pod->revision == target || v.pod_terminating) continue;
    if (v.pod->dra && !to_dra && (!v.claims || *v.claims > 0)) {
      // The claims' releases bring the pool back; their first listing may not.
      if (!v.claims) Requeue(d, milliseconds(800));
      held.push_back("node " + name + ": " +
                     (v.claims ? std::to_string(*v.claims) + " ResourceClaim" + (*v.claims == 1 ? "" : "s") +
                                     " hold" + (*v.claims == 1 ? "s" : "") + " devices of driver " + in.dra_driver
                               : "its agent serves DRA and the ResourceClaims are not listed yet"));
      continue;
    }
    if (!v.node_ready) {
      ++waiting_elsewhere;
      continue;
    }
    pending.push_back({!v.pod->ready, v.report ? v.report->allocated : 0, name});
  }
  std::sort(pending.begin(), pending.end());

  auto replace = [&](size_t count, bool canary) {
    // The DaemonSet must create the successors from the target template.
    if (!in.daemon_set_synced || in.daemon_set_revision != target) {
      if (waiting.empty()) waiting = "waiting for the DaemonSet controller to take revision " + Short(target);
      return;
    }
    std::vector<std::string> names;
    for (size_t i = 0; i < count && !pending.empty(); ++i) {
      Candidate c = pending.front();
      pending.erase(pending.begin());
      const RolloutNodeView& v = in.nodes.at(c.node);
      keep.push_back({c.node, canary, api::FormatTime(now), v.report ? v.report->healthy : 0, ""});
      d.replace.push_back(c.node);
      names.push_back(c.node);
      Requeue(d, deadline);
    }
    if (!names.empty()) {
      Emit(d, kube::EventType::kNormal, "AgentsReplaced",
           "replacing the agent on " + std::string(canary ? "canary " : "") + "node(s) " + JoinNodes(names) +
               " with revision " + Short(target));
    }
  };

  const bool restoring = target == r.current_revision;
  if (in.spec.paused && (!pending.empty() || !keep.empty() || !held.empty())) {
    r.phase = RolloutPhase::kPaused;
    r.message = "paused (spec.rollout.paused); " + std::to_string(pending.size() + held.size()) +
                " node(s) still to replace";
  } else {
    if (r.phase == RolloutPhase::kPaused || r.phase == RolloutPhase::kIdle || r.phase == RolloutPhase::kComplete) {
      // Resumed (or a first look): where does the rollout stand?
      bool canary_left = false;
      for (const auto& e : keep) canary_left = canary_left || e.canary;
      if (!r.failed_revision.empty()) {
        r.phase = RolloutPhase::kRolledBack;
      } else if (restoring) {
        r.phase = RolloutPhase::kProgressing;
      } else {
        int done = 0;
        for (const auto& [name, v] : in.nodes) {
          if (v.pod && v.pod->revision == target && !in_flight.count(name)) ++done;
        }
        r.phase = canary_left || done < ResolveCount(in.spec.canary.nodes, total) ? RolloutPhase::kCanary
                                                                                   : RolloutPhase::kProgressing;
      }
    }
    if (r.phase == RolloutPhase::kCanary) {
      const int want = ResolveCount(in.spec.canary.nodes, total);
      int canaries = 0;
      for (const auto& e : keep) canaries += e.canary ? 1 : 0;
      if (canaries < want) replace(static_cast<size_t>(want - canaries), true);
      bool all_passed = true;
      TimePoint last_pass{};
      canaries = 0;
      for (const auto& e : keep) {
        if (!e.canary) continue;
        ++canaries;
        if (e.passed_at.empty()) all_passed = false;
        last_pass = std::max(last_pass, ParseTime(e.passed_at, now));
      }
      if (canaries > 0 && all_passed) {
        if (now - last_pass >= bake) {
          std::vector<std::string> names;
          for (const auto& e : keep) names.push_back(e.node);
          keep.clear();
          r.phase = RolloutPhase::kProgressing;
          r.message.clear();
          Emit(d, kube::EventType::kNormal, "CanaryPassed",
               "canary node(s) " + JoinNodes(names) + " held every gate for " + in.spec.canary.bake_time +
                   "; replacing the rest in waves");
        } else {
          waiting = "canary node(s) passed the gate; baking until " +
                    api::FormatTime(last_pass + std::chrono::duration_cast<std::chrono::seconds>(bake) +
                                    std::chrono::seconds(1));
          Requeue(d, std::chrono::duration_cast<milliseconds>(last_pass + bake - now));
        }
      }
    }
    if (r.phase == RolloutPhase::kProgressing || r.phase == RolloutPhase::kRolledBack) {
      const int wave = std::min(ResolveCount(in.spec.max_unavailable, total), kMaxWave);
      if (static_cast<int>(keep.size()) < wave) replace(static_cast<size_t>(wave - static_cast<int>(keep.size())), false);
    }
  }

  r.nodes = std::move(keep);
  r.updated_nodes = CountUpdated(in, r);
  if (r.nodes.empty() && pending.empty() && waiting_elsewhere == 0 && held.empty()) {
    switch (r.phase) {
      case RolloutPhase::kCanary:
      case RolloutPhase::kProgressing:
      case RolloutPhase::kPaused: {
        const bool moved = r.current_revision != target || !r.start_time.empty();
        r.current_revision = target;
        if (moved) {
          r.phase = RolloutPhase::kComplete;
          r.completion_time = api::FormatTime(now);
          r.message = "revision " + Short(target) + " runs on all " + std::to_string(total) + " node(s)";
          Emit(d, kube::EventType::kNormal, "RolloutComplete", r.message);
        } else {
          r.phase = RolloutPhase::kIdle;
        }
        break;
      }
      case RolloutPhase::kRolledBack:
        if (r.completion_time.empty()) {
          r.completion_time = api::FormatTime(now);
          r.message = "rolled back to revision " + Short(target) + " after revision " + Short(r.failed_revision) +
                      " failed" + (r.failed.empty() ? "" : ": gate " + r.failed.front().gate + " on node " +
                                                               r.failed.front().node + ": " + r.failed.front().message);
          Emit(d, kube::EventType::kNormal, "RolledBack", r.message);
        }
        break;
      default:
        break;
    }
  } else if (r.phase == RolloutPhase::kCanary || r.phase == RolloutPhase::kProgressing) {
    r.message = std::string(r.phase == RolloutPhase::kCanary ? "canary: " : "") + std::to_string(r.updated_nodes) +
                "/" + std::to_string(total) + " node(s) on revision " + Short(target);
    if (waiting_elsewhere) {
      r.message += "; " + std::to_string(waiting_elsewhere) + " more wait for their node to be Ready";
    }
    if (!waiting.empty()) r.message += "; " + waiting;
    if (!held.empty()) r.message += "; held back until their claims are released: " + JoinNodes(held);
  }
  return d;
}

}  // namespace hf::controller
