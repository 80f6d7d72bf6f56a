// LeaderElector: leader election on a coordination.k8s.io/v1 Lease, as
// client-go's leaderelection with a LeaseLock. A candidate takes the Lease
// when it is absent, released (no holder), or expired; it then renews it every
// retry_period and gives leadership up when renewing has failed for
// renew_deadline. Expiry is judged on this process's clock: the record is
// expired once it has stayed unchanged for leaseDurationSeconds since we
// first saw it, so clock skew between candidates does not matter. Every write
// carries the resourceVersion last read, so a Conflict means another
// candidate wrote first. When Run stops, the Lease is released (empty holder,
// leaseDurationSeconds=1) so a successor takes over at once.
//
// Thread-safety: Run on one thread at a time; IsLeader and GetLeader from any.
#ifndef HF_KUBE_LEADERELECTION_LEADER_ELECTOR_H_
#define HF_KUBE_LEADERELECTION_LEADER_ELECTOR_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>

#include "kube/clock.h"
#include "kube/rest/client.h"
#include "kube/status.h"
#include "kube/mutex.h"

namespace hf::kube {

struct LeaderCallbacks {
  // Required. Runs on its own thread once this candidate leads; `stop` is
  // requested when leadership ends. The Lease is released only after it
  // returns, so leader-only work never overlaps a successor's.
  std::function<void(std::stop_token stop)> on_started_leading;
  // Required. Called on Run's thread after leading ends (lost or stopped).
  std::function<void()> on_stopped_leading;
  // Optional. Called on Run's thread whenever a different holder is seen
  // (including this candidate); must not block.
  std::function<void(const std::string& identity)> on_new_leader;
};

struct LeaderElectionConfig {
  std::string namespace_;
  std::string name;      // of the Lease
  std::string identity;  // unique per candidate, e.g. the pod name
  // Written as whole seconds; must exceed renew_deadline.
  Clock::Duration lease_duration = std::chrono::seconds(15);
  // Must exceed 1.2 * retry_period, as client-go requires.
  Clock::Duration renew_deadline = std::chrono::seconds(10);
  Clock::Duration retry_period = std::chrono::seconds(2);
  Clock* clock = nullptr;  // nullptr = DefaultClock()
  LeaderCallbacks callbacks;
};

// The Lease spec fields leader election reads and writes. Times are kept as
// written (RFC 3339 with microseconds) so any change by the holder, even a
// renewal, shows as a different record.
struct LeaderElectionRecord {
  std::string holder_identity;
  int lease_duration_seconds = 0;
  std::string acquire_time;
  std::string renew_time;
  int leader_transitions = 0;

  bool operator==(const LeaderElectionRecord&) const = default;
};

class LeaderElector {
 public:
  // Invalid when the config breaks the rules above.
  static StatusOr<std::unique_ptr<LeaderElector>> New(Client& client, LeaderElectionConfig config);

  // Tries to acquire until it leads or `stop` is requested, then renews until
  // leadership is lost or `stop` is requested, and returns. Run again to
  // stand for election again.
  void Run(std::stop_token stop);

  // True between acquiring and giving up leadership.
  bool IsLeader() const;
  // The holder identity last observed; empty when none.
  std::string GetLeader() const;

 private:
  LeaderElector(Client& client, LeaderElectionConfig config);

  bool Acquire(std::stop_token stop);
  // Returns when leadership is lost or `stop` is requested.
  void Renew(std::stop_token stop);
  // Writes an empty holder if we still hold the Lease as last observed.
  void Release();
  // One round of client-go's tryAcquireOrRenew; true if we hold the Lease.
  bool TryAcquireOrRenew();
  // Creates (no `lease_` yet) or updates the Lease to hold `record`.
  Status Write(const LeaderElectionRecord& record, bool create);
  void MaybeReportTransition();
  // Waits on the clock for `d` or until `stop`; false if stopped.
  bool Sleep(Clock::Duration d, std::stop_token stop);

  bool HoldsObservedLocked() const HF_REQUIRES(mu_) { return observed_.holder_identity == config_.identity; }
  bool ObservedValidLocked(Clock::TimePoint now) const HF_REQUIRES(mu_);
  void SetObservedLocked(const LeaderElectionRecord& record, Clock::TimePoint now) HF_REQUIRES(mu_);

  Client& client_;
  const LeaderElectionConfig config_;
  Clock& clock_;

  mutable Mutex mu_;
  std::condition_variable wake_;  // notified on stop; the clock wakes it on time.
  LeaderElectionRecord observed_ HF_GUARDED_BY(mu_);
  Clock::TimePoint observed_time_ HF_GUARDED_BY(mu_){};  // when observed_ last changed
  Json lease_ HF_GUARDED_BY(mu_);  // last read or written, null if none
  bool leading_ HF_GUARDED_BY(mu_) = false;
  std::string reported_leader_;        // Run's thread only
};

}  // namespace hf::kube

#endif  // HF_KUBE_LEADERELECTION_LEADER_ELECTOR_H_
