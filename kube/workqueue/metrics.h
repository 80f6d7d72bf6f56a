// QueueMetrics: the hooks through which a work queue reports what it does,
// mirroring client-go's workqueue metrics. The base class does nothing, so a
// queue built without metrics pays only a virtual call.
//
// Thread-safety: a queue calls these with its own lock held, serialised per
// queue; an implementation must be quick, must not call back into the queue,
// and must be safe to share between queues if the caller shares it.
#ifndef HF_KUBE_WORKQUEUE_METRICS_H_
#define HF_KUBE_WORKQUEUE_METRICS_H_

#include "kube/clock.h"

namespace hf::kube {

class QueueMetrics {
 public:
  virtual ~QueueMetrics() = default;

  // A key became pending (an Add that was not deduplicated away).
  virtual void OnAdd() {}
  // The number of keys waiting for a worker changed to `depth`.
  virtual void OnDepth(int /*depth*/) {}
  // A worker got a key that had been pending for `queued`.
  virtual void OnGet(Clock::Duration /*queued*/) {}
  // A worker called Done on a key it had held for `work`.
  virtual void OnDone(Clock::Duration /*work*/) {}
  // A key was scheduled through AddAfter (so also AddRateLimited). client-go
  // counts every such requeue as a retry; so do we, to keep the numbers
  // comparable.
  virtual void OnRetry() {}
};

}  // namespace hf::kube

#endif  // HF_KUBE_WORKQUEUE_METRICS_H_
