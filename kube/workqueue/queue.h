// Queue: a deduplicating FIFO of string keys feeding controller workers, like
// client-go's workqueue.Type. A key is pending at most once however often it
// is added (the dirty set), and at most one worker holds it at a time (the
// processing set): a key added while a worker holds it is queued again only
// when that worker calls Done, so a reconciler never races itself on one
// object and never misses the change that arrived meanwhile.
//
// Thread-safety: safe for any number of concurrent producers and workers.
// Every worker must have returned from Get before the queue is destroyed.
#ifndef HF_KUBE_WORKQUEUE_QUEUE_H_
#define HF_KUBE_WORKQUEUE_QUEUE_H_

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "kube/clock.h"
#include "kube/mutex.h"
#include "kube/workqueue/metrics.h"

namespace hf::kube {

class Queue {
 public:
  // `clock` times the metrics and any delays; it must outlive the queue.
  // Without `metrics` nothing is reported.
  explicit Queue(Clock& clock = DefaultClock(), std::unique_ptr<QueueMetrics> metrics = nullptr);
  virtual ~Queue() = default;

  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // Marks `key` as needing work. Ignored when it is already pending or the
  // queue is shutting down.
  void Add(const std::string& key);

  // Blocks until a key is available and hands it to the caller, who must call
  // Done(key) when finished. Returns nullopt once the queue is shutting down
  // and no key is left to hand out.
  std::optional<std::string> Get();

  // Ends the work on a key from Get, queueing it again if it was added
  // meanwhile. Ignored for a key no worker holds.
  void Done(const std::string& key);

  // Keys waiting for a worker; keys being processed are not counted. Not
  // const: a DelayingQueue first releases keys whose delay has passed.
  int Len();

  // Refuses new keys and wakes every Get; keys already queued are still
  // handed out.
  void ShutDown();
  // Like ShutDown, then blocks until every queued key has been handed out and
  // marked Done, so workers must still be running. A later ShutDown stops the
  // wait.
  void ShutDownWithDrain();
  bool ShuttingDown() const;

 protected:
  // For subclasses that hold keys back (DelayingQueue). Called by Get and Len
  // with Lock() held: queues, via AddLocked, every held key due by `now` and
  // returns when the next one falls due, or nullopt if none is held.
  virtual std::optional<Clock::TimePoint> ReleaseDueLocked(Clock::TimePoint now) HF_REQUIRES(mu_);

  // The queue's lock, for subclasses to take (MutexLock lock(mu())) and to
  // guard their own fields with.
  Mutex& mu() const HF_RETURN_CAPABILITY(mu_) { return mu_; }
  // Add, for a caller that already holds mu().
  void AddLocked(const std::string& key) HF_REQUIRES(mu_);
  // Makes blocked Get calls recompute how long to wait, after a subclass
  // brought its next deadline forward.
  void WakeGettersLocked() HF_REQUIRES(mu_) { ready_.notify_all(); }
  bool ShuttingDownLocked() const HF_REQUIRES(mu_) { return shutting_down_; }

  Clock& clock() const { return clock_; }
  QueueMetrics& metrics() const { return *metrics_; }

 private:
  Clock& clock_;
  const std::unique_ptr<QueueMetrics> metrics_;

  mutable Mutex mu_;
  std::condition_variable ready_;    // a key was queued or shutdown began.
  std::condition_variable drained_;  // the queue may have emptied.

  std::deque<std::string> queue_ HF_GUARDED_BY(mu_);
  // Keys needing work, with when they became so: every queued key, and held
  // keys added again while a worker holds them.
  std::unordered_map<std::string, Clock::TimePoint> dirty_ HF_GUARDED_BY(mu_);
  // Keys held by workers, with when they were handed out.
  std::unordered_map<std::string, Clock::TimePoint> processing_ HF_GUARDED_BY(mu_);
  bool shutting_down_ HF_GUARDED_BY(mu_) = false;
  bool draining_ HF_GUARDED_BY(mu_) = false;
};

}  // namespace hf::kube

#endif  // HF_KUBE_WORKQUEUE_QUEUE_H_
