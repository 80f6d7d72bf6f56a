#include "kube/workqueue/prometheus_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "kube/clock.h"
#include "kube/workqueue/rate_limiter.h"
#include "kube/workqueue/rate_limiting_queue.h"

namespace hf::kube {
namespace {

using std::chrono::seconds;

// The sample labelled name=`queue` in family `family`; fails the test if absent.
prometheus::ClientMetric Sample(const prometheus::Registry& registry, const std::string& family,
                                const std::string& queue) {
  for (const prometheus::MetricFamily& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const prometheus::ClientMetric& m : f.metric) {
      for (const prometheus::ClientMetric::Label& l : m.label) {
        if (l.name == "name" && l.value == queue) return m;
      }
    }
  }
  ADD_FAILURE() << "no " << family << "{name=\"" << queue << "\"}";
  return {};
}

TEST(PrometheusQueueMetricsTest, ReportsClientGoSeriesLabelledByQueueName) {
  prometheus::Registry registry;
  FakeClock clock;
  RateLimitingQueue queue(
      std::make_unique<ItemExponentialFailureRateLimiter>(seconds(1), seconds(60)), clock,
      std::make_unique<PrometheusQueueMetrics>(registry, "pools"));

  queue.Add("a");
  queue.Add("b");
  queue.Add("a");  // deduplicated: not an add.
  EXPECT_EQ(Sample(registry, "workqueue_adds_total", "pools").counter.value, 2);
  EXPECT_EQ(Sample(registry, "workqueue_depth", "pools").gauge.value, 2);

  clock.Step(seconds(2));
  ASSERT_EQ(queue.Get(), "a");
  EXPECT_EQ(Sample(registry, "workqueue_depth", "pools").gauge.value, 1);
  const auto queued = Sample(registry, "workqueue_queue_duration_seconds", "pools").histogram;
  EXPECT_EQ(queued.sample_count, 1u);
  EXPECT_DOUBLE_EQ(queued.sample_sum, 2.0);

  clock.Step(seconds(3));
  queue.Done("a");
  const auto work = Sample(registry, "workqueue_work_duration_seconds", "pools").histogram;
  EXPECT_EQ(work.sample_count, 1u);
  EXPECT_DOUBLE_EQ(work.sample_sum, 3.0);

  queue.AddRateLimited("a");
  EXPECT_EQ(Sample(registry, "workqueue_retries_total", "pools").counter.value, 1);
}

TEST(PrometheusQueueMetricsTest, QueuesSharingARegistryKeepSeparateSeries) {
  prometheus::Registry registry;
  FakeClock clock;
  Queue first(clock, std::make_unique<PrometheusQueueMetrics>(registry, "first"));
  Queue second(clock, std::make_unique<PrometheusQueueMetrics>(registry, "second"));
  first.Add("a");
  EXPECT_EQ(Sample(registry, "workqueue_adds_total", "first").counter.value, 1);
  EXPECT_EQ(Sample(registry, "workqueue_adds_total", "second").counter.value, 0);
}

}  // namespace
}  // namespace hf::kube
