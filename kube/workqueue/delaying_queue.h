// DelayingQueue: a Queue that can also add a key once a delay has passed on
// the injected Clock, like client-go's DelayingInterface; controllers use it
// for Result{requeue_after} and rate-limited retries. There is no timer
// thread: Get (and Len) release keys whose time has come, and a blocked Get
// waits on the clock only until the earliest deadline, so a FakeClock drives
// it completely.
//
// Thread-safety: as Queue. Delayed keys not yet due at ShutDown are dropped.
#ifndef HF_KUBE_WORKQUEUE_DELAYING_QUEUE_H_
#define HF_KUBE_WORKQUEUE_DELAYING_QUEUE_H_

#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

#include "kube/clock.h"
#include "kube/workqueue/queue.h"

namespace hf::kube {

class DelayingQueue : public Queue {
 public:
  using Queue::Queue;

  // Adds `key` once `delay` has passed, or now if `delay` is not positive. A
  // key already waiting keeps the earlier of its two deadlines. Counts as a
  // retry in the metrics. Ignored while shutting down.
  void AddAfter(const std::string& key, Clock::Duration delay);

 protected:
  std::optional<Clock::TimePoint> ReleaseDueLocked(Clock::TimePoint now) override HF_REQUIRES(mu());

 private:
  // Both guarded by Queue's lock and always holding the same keys: the map
  // finds a key's deadline, the set orders keys by it.
  std::unordered_map<std::string, Clock::TimePoint> deadline_of_ HF_GUARDED_BY(mu());
  std::set<std::pair<Clock::TimePoint, std::string>> by_deadline_ HF_GUARDED_BY(mu());
};

}  // namespace hf::kube

#endif  // HF_KUBE_WORKQUEUE_DELAYING_QUEUE_H_
