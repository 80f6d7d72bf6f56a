#include "kube/leaderelection/leader_elector.h"

#include <spdlog/spdlog.h>

#include <thread>
#include <utility>

#include "kube/rest/credentials.h"

namespace hf::kube {
namespace {

std::string StringField(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

int IntField(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number_integer() ? it->get<int>() : 0;
}

LeaderElectionRecord RecordFromLease(const Json& lease) {
  auto it = lease.find("spec");
  if (it == lease.end() || !it->is_object()) return {};
  const Json& spec = *it;
  return {StringField(spec, "holderIdentity"), IntField(spec, "leaseDurationSeconds"),
          StringField(spec, "acquireTime"), StringField(spec, "renewTime"), IntField(spec, "leaseTransitions")};
}

// Replaces only our fields, keeping any others (strategy, preferredHolder).
void SetRecord(Json& lease, const LeaderElectionRecord& r) {
  Json& spec = lease["spec"];
  spec["holderIdentity"] = r.holder_identity;
  spec["leaseDurationSeconds"] = r.lease_duration_seconds;
  spec["acquireTime"] = r.acquire_time;
  spec["renewTime"] = r.renew_time;
  spec["leaseTransitions"] = r.leader_transitions;
}

}  // namespace

StatusOr<std::unique_ptr<LeaderElector>> LeaderElector::New(Client& client, LeaderElectionConfig config) {
  auto invalid = [](const std::string& why) { return Status(Reason::kInvalid, "leader election: " + why); };
  if (config.namespace_.empty() || config.name.empty()) return invalid("lease namespace and name are required");
  if (config.identity.empty()) return invalid("identity is required");
  if (config.retry_period <= Clock::Duration::zero()) return invalid("retry_period must be positive");
  // Checked on whole seconds, as that is what the Lease carries.
  if (std::chrono::duration_cast<std::chrono::seconds>(config.lease_duration) <= config.renew_deadline) {
    return invalid("lease_duration must exceed renew_deadline");
  }
  if (config.renew_deadline * 5 <= config.retry_period * 6) {
    return invalid("renew_deadline must exceed 1.2 * retry_period");
  }
  if (!config.callbacks.on_started_leading || !config.callbacks.on_stopped_leading) {
    return invalid("on_started_leading and on_stopped_leading are required");
  }
  return std::unique_ptr<LeaderElector>(new LeaderElector(client, std::move(config)));
}

LeaderElector::LeaderElector(Client& client, LeaderElectionConfig config)
    : client_(client),
      config_(std::move(config)),
      clock_(config_.clock != nullptr ? *config_.clock : DefaultClock()) {}

void LeaderElector::Run(std::stop_token stop) {
  if (!Acquire(stop)) return;
  spdlog::info("leader election: {} acquired lease {}/{}", config_.identity, config_.namespace_, config_.name);
  {
    // The jthread hands the callback its own stop token, requested (and
    // joined) when this scope ends.
    std::jthread leading(config_.callbacks.on_started_leading);
    Renew(stop);
    MutexLock l(mu_);
    leading_ = false;
  }
  Release();
  config_.callbacks.on_stopped_leading();
}

bool LeaderElector::IsLeader() const {
  MutexLock l(mu_);
  return leading_;
}

std::string LeaderElector::GetLeader() const {
  MutexLock l(mu_);
  return observed_.holder_identity;
}

bool LeaderElector::Acquire(std::stop_token stop) {
  do {
    const bool acquired = TryAcquireOrRenew();
    if (acquired) {
      MutexLock l(mu_);
      leading_ = true;
    }
    MaybeReportTransition();
    if (acquired) return true;
  } while (Sleep(config_.retry_period, stop));
  return false;
}

void LeaderElector::Renew(std::stop_token stop) {
  Clock::TimePoint last_renew = clock_.Now();
  while (Sleep(config_.retry_period, stop)) {
    const Clock::TimePoint attempt = clock_.Now();
    const bool renewed = TryAcquireOrRenew();
    MaybeReportTransition();
    if (renewed) {
      last_renew = attempt;
      continue;
    }
    {
      // Someone else holds an unexpired Lease: waiting out the deadline
      // would only prolong two leaders.
      MutexLock l(mu_);
      if (!HoldsObservedLocked()) {
        spdlog::warn("leader election: {} lost lease {}/{} to {}", config_.identity, config_.namespace_,
                     config_.name, observed_.holder_identity);
        return;
      }
    }
    if (clock_.Now() - last_renew >= config_.renew_deadline) {
      spdlog::warn("leader election: {} failed to renew lease {}/{} within the renew deadline", config_.identity,
                   config_.namespace_, config_.name);
      return;
    }
  }
}

void LeaderElector::Release() {
  LeaderElectionRecord released;
  {
    MutexLock l(mu_);
    if (!HoldsObservedLocked() || lease_.is_null()) return;
    released.leader_transitions = observed_.leader_transitions;
  }
  // A one-second lease with no holder: any candidate takes it on sight.
  const std::string now = FormatRfc3339(clock_.WallNow(), /*micro=*/true);
  released.lease_duration_seconds = 1;
  released.acquire_time = now;
  released.renew_time = now;
  if (Status st = Write(released, /*create=*/false); !st.ok()) {
    spdlog::warn("leader election: releasing lease {}/{}: {}", config_.namespace_, config_.name, st.ToString());
  }
}

bool LeaderElector::TryAcquireOrRenew() {
  const std::string now = FormatRfc3339(clock_.WallNow(), /*micro=*/true);
  const int lease_seconds =
      static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(config_.lease_duration).count());
  LeaderElectionRecord desired{config_.identity, lease_seconds, now, now, 0};

  // Fast path: a leader whose view is current writes without reading first;
  // a Conflict sends it down the slow path.
  bool fast = false;
  {
    MutexLock l(mu_);
    if (HoldsObservedLocked() && ObservedValidLocked(clock_.Now())) {
      desired.acquire_time = observed_.acquire_time;
      desired.leader_transitions = observed_.leader_transitions;
      fast = true;
    }
  }
  if (fast) {
    Status st = Write(desired, /*create=*/false);
    if (st.ok()) return true;
    spdlog::info("leader election: optimistic renew of {}/{} failed, re-reading: {}", config_.namespace_,
                 config_.name, st.ToString());
  }

  auto got = client_.Get(resources::Leases(), config_.namespace_, config_.name);
  if (!got.ok()) {
    if (!IsNotFound(got.status())) {
      spdlog::warn("leader election: reading lease {}/{}: {}", config_.namespace_, config_.name,
                   got.status().ToString());
      return false;
    }
    Status st = Write(desired, /*create=*/true);
    if (!st.ok()) {
      spdlog::warn("leader election: creating lease {}/{}: {}", config_.namespace_, config_.name, st.ToString());
    }
    return st.ok();
  }

  {
    MutexLock l(mu_);
    const LeaderElectionRecord current = RecordFromLease(*got);
    lease_ = std::move(*got);
    const Clock::TimePoint observed_at = clock_.Now();
    if (current != observed_) SetObservedLocked(current, observed_at);
    if (!current.holder_identity.empty() && ObservedValidLocked(observed_at) && !HoldsObservedLocked()) {
      return false;
    }
    if (HoldsObservedLocked()) {
      desired.acquire_time = current.acquire_time;
      desired.leader_transitions = current.leader_transitions;
    } else {
      desired.leader_transitions = current.leader_transitions + 1;
    }
  }
  Status st = Write(desired, /*create=*/false);
  if (!st.ok()) {
    spdlog::info("leader election: updating lease {}/{}: {}", config_.namespace_, config_.name, st.ToString());
  }
  return st.ok();
}

Status LeaderElector::Write(const LeaderElectionRecord& record, bool create) {
  Json lease;
  if (create) {
    lease = {{"apiVersion", "coordination.k8s.io/v1"},
             {"kind", "Lease"},
             {"metadata", {{"name", config_.name}, {"namespace", config_.namespace_}}}};
  } else {
    MutexLock l(mu_);
    lease = lease_;  // carries the resourceVersion last seen
  }
  SetRecord(lease, record);
  auto written = create ? client_.Create(resources::Leases(), config_.namespace_, lease)
                        : client_.Update(resources::Leases(), config_.namespace_, lease);
  if (!written.ok()) return written.status();
  MutexLock l(mu_);
  lease_ = std::move(*written);
  SetObservedLocked(record, clock_.Now());
  return Status::Ok();
}

void LeaderElector::MaybeReportTransition() {
  const std::string holder = GetLeader();
  if (holder.empty() || holder == reported_leader_) return;
  reported_leader_ = holder;
  if (config_.callbacks.on_new_leader) config_.callbacks.on_new_leader(holder);
}

bool LeaderElector::Sleep(Clock::Duration d, std::stop_token stop) {
  // Registered before taking mu_: with stop already requested the callback
  // runs here and now, and takes mu_ itself.
  std::stop_callback wake(stop, [this] {
    MutexLock l(mu_);
    wake_.notify_all();
  });
  MutexLock lock(mu_);
  const Clock::TimePoint deadline = clock_.Now() + d;
  while (!stop.stop_requested() && clock_.Now() < deadline) clock_.WaitUntil(lock.native(), wake_, deadline);
  return !stop.stop_requested();
}

bool LeaderElector::ObservedValidLocked(Clock::TimePoint now) const {
  return observed_time_ + std::chrono::seconds(observed_.lease_duration_seconds) > now;
}

void LeaderElector::SetObservedLocked(const LeaderElectionRecord& record, Clock::TimePoint now) {
  observed_ = record;
  observed_time_ = now;
}

}  // namespace hf::kube
