// Reconciler: controller-runtime's contract. Reconcile gets only the name of
// an object, reads current state and makes the world match it (level-based),
// so it is safe to call any number of times. It returns a Result asking for a
// later look, or an error Status; a Conflict is requeued quietly, since it
// only means someone wrote first.
//
// Thread-safety: a Controller may call Reconcile concurrently for different
// requests (never for the same one at once).
#ifndef HF_KUBE_CONTROLLER_RECONCILER_H_
#define HF_KUBE_CONTROLLER_RECONCILER_H_

#include <stop_token>
#include <string>

#include "kube/clock.h"
#include "kube/status.h"

namespace hf::kube {

struct Request {
  std::string namespace_;
  std::string name;

  // "namespace/name" or "name", the work-queue key.
  std::string Key() const { return namespace_.empty() ? name : namespace_ + "/" + name; }
  static Request FromKey(const std::string& key);
  bool operator==(const Request&) const = default;
};

struct Result {
  // Look again after the rate limiter's backoff.
  bool requeue = false;
  // Look again after this long (wins over `requeue`); zero for no timer.
  Clock::Duration requeue_after{};
};

class Reconciler {
 public:
  virtual ~Reconciler() = default;
  // `stop` is requested when the manager shuts down; long work should check it.
  virtual StatusOr<Result> Reconcile(const Request& req, std::stop_token stop) = 0;
};

}  // namespace hf::kube

#endif  // HF_KUBE_CONTROLLER_RECONCILER_H_
