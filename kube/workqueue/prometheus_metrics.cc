#include "kube/workqueue/prometheus_metrics.h"

#include <chrono>

namespace hf::kube {
namespace {

// client-go's buckets: 10ns to 10s, a factor of 10 apart.
prometheus::Histogram::BucketBoundaries DurationBuckets() {
  return {1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10};
}

double Seconds(Clock::Duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

PrometheusQueueMetrics::PrometheusQueueMetrics(prometheus::Registry& registry,
                                               const std::string& queue_name)
    : depth_(prometheus::BuildGauge()
                 .Name("workqueue_depth")
                 .Help("Current depth of workqueue")
                 .Register(registry)
                 .Add({{"name", queue_name}})),
      adds_(prometheus::BuildCounter()
                .Name("workqueue_adds_total")
                .Help("Total number of adds handled by workqueue")
                .Register(registry)
                .Add({{"name", queue_name}})),
      queue_duration_(prometheus::BuildHistogram()
                          .Name("workqueue_queue_duration_seconds")
                          .Help("How long in seconds an item stays in workqueue before being "
                                "requested")
                          .Register(registry)
                          .Add({{"name", queue_name}}, DurationBuckets())),
      work_duration_(prometheus::BuildHistogram()
                         .Name("workqueue_work_duration_seconds")
                         .Help("How long in seconds processing an item from workqueue takes")
                         .Register(registry)
                         .Add({{"name", queue_name}}, DurationBuckets())),
      retries_(prometheus::BuildCounter()
                   .Name("workqueue_retries_total")
                   .Help("Total number of retries handled by workqueue")
                   .Register(registry)
                   .Add({{"name", queue_name}})) {}

void PrometheusQueueMetrics::OnAdd() { adds_.Increment(); }

void PrometheusQueueMetrics::OnDepth(int depth) { depth_.Set(depth); }

void PrometheusQueueMetrics::OnGet(Clock::Duration queued) {
  queue_duration_.Observe(Seconds(queued));
}

void PrometheusQueueMetrics::OnDone(Clock::Duration work) { work_duration_.Observe(Seconds(work)); }

void PrometheusQueueMetrics::OnRetry() { retries_.Increment(); }

}  // namespace hf::kube
