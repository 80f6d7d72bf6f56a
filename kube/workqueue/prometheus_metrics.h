// PrometheusQueueMetrics: QueueMetrics as the Prometheus series client-go
// exports (workqueue_depth, workqueue_adds_total,
// workqueue_queue_duration_seconds, workqueue_work_duration_seconds,
// workqueue_retries_total), each labelled name=<queue name> so existing
// dashboards and alerts work unchanged.
//
// Thread-safety: safe for concurrent use; meant for one queue, as its depth
// gauge is set to that queue's length.
#ifndef HF_KUBE_WORKQUEUE_PROMETHEUS_METRICS_H_
#define HF_KUBE_WORKQUEUE_PROMETHEUS_METRICS_H_

#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "kube/clock.h"
#include "kube/workqueue/metrics.h"

namespace hf::kube {

class PrometheusQueueMetrics final : public QueueMetrics {
 public:
  // Registers (or joins, for a second queue) the families in `registry`,
  // which must outlive this object.
  PrometheusQueueMetrics(prometheus::Registry& registry, const std::string& queue_name);

  void OnAdd() override;
  void OnDepth(int depth) override;
  void OnGet(Clock::Duration queued) override;
  void OnDone(Clock::Duration work) override;
  void OnRetry() override;

 private:
  prometheus::Gauge& depth_;
  prometheus::Counter& adds_;
  prometheus::Histogram& queue_duration_;
  prometheus::Histogram& work_duration_;
  prometheus::Counter& retries_;
};

}  // namespace hf::kube

#endif  // HF_KUBE_WORKQUEUE_PROMETHEUS_METRICS_H_
