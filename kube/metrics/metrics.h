// Metrics: the Prometheus families hf::kube reports about itself, named and
// labelled as client-go and controller-runtime name theirs so existing
// dashboards and alerts for Kubernetes controllers work unchanged.
//
// Thread-safety: the Observe methods may be called concurrently
// (prometheus-cpp families and metrics lock internally). The registry must
// outlive this object. Two Metrics on one registry share the families.
#ifndef HF_KUBE_METRICS_METRICS_H_
#define HF_KUBE_METRICS_METRICS_H_

#include <chrono>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace hf::kube {

// How a Reconcile ended; the `result` label of controller_runtime_reconcile_total.
enum class ReconcileResult { kSuccess, kError, kRequeue, kRequeueAfter };

// "success", "error", "requeue", "requeue_after".
std::string_view ReconcileResultName(ReconcileResult result);

class Metrics {
 public:
  explicit Metrics(prometheus::Registry& registry);

  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One API request: `verb` as sent ("GET", "PATCH", ...), `resource` the
  // plural ("devicepools"), `code` the HTTP status or 0 when no answer came
  // (recorded as "<error>", as client-go does).
  void ObserveRequest(std::string_view verb, std::string_view resource, int code,
                      std::chrono::duration<double> elapsed);

  // One Reconcile call of `controller`.
  void ObserveReconcile(std::string_view controller, ReconcileResult result,
                        std::chrono::duration<double> elapsed);

 private:
  prometheus::Family<prometheus::Counter>& rest_requests_;
  prometheus::Family<prometheus::Histogram>& rest_duration_;
  prometheus::Family<prometheus::Counter>& reconcile_total_;
  prometheus::Family<prometheus::Counter>& reconcile_errors_;
  prometheus::Family<prometheus::Histogram>& reconcile_time_;
};

}  // namespace hf::kube

#endif  // HF_KUBE_METRICS_METRICS_H_
