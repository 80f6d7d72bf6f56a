#include "kube/metrics/metrics.h"

#include <chrono>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

namespace hf::kube {
namespace {

using std::chrono::milliseconds;
using Labels = std::map<std::string, std::string>;

class MetricsTest : public ::testing::Test {
 protected:
  const prometheus::MetricFamily* Family(const std::string& name) {
    if (families_.empty()) families_ = registry_.Collect();  // once: pointers stay valid
    for (const auto& family : families_) {
      if (family.name == name) return &family;
    }
    ADD_FAILURE() << "no family " << name;
    return nullptr;
  }

  // The series of `name` with exactly `labels`, or null.
  const prometheus::ClientMetric* Series(const std::string& name, const Labels& labels) {
    const prometheus::MetricFamily* family = Family(name);
    if (family == nullptr) return nullptr;
    for (const auto& metric : family->metric) {
      Labels got;
      for (const auto& label : metric.label) got[label.name] = label.value;
      if (got == labels) return &metric;
    }
    ADD_FAILURE() << "no series of " << name << " with those labels";
    return nullptr;
  }

  prometheus::Registry registry_;
  Metrics metrics_{registry_};
  std::vector<prometheus::MetricFamily> families_;
};

TEST_F(MetricsTest, RestRequestsCountAndTime) {
  metrics_.ObserveRequest("GET", "devicepools", 200, milliseconds(30));
  metrics_.ObserveRequest("GET", "devicepools", 200, milliseconds(70));
  metrics_.ObserveRequest("PATCH", "nodes", 409, milliseconds(5));
  metrics_.ObserveRequest("GET", "nodes", 0, milliseconds(1));

  const auto* ok = Series("rest_client_requests_total",
                          {{"verb", "GET"}, {"code", "200"}, {"resource", "devicepools"}});
  ASSERT_NE(ok, nullptr);
  EXPECT_EQ(ok->counter.value, 2);
  const auto* conflict = Series("rest_client_requests_total",
                                {{"verb", "PATCH"}, {"code", "409"}, {"resource", "nodes"}});
  ASSERT_NE(conflict, nullptr);
  EXPECT_EQ(conflict->counter.value, 1);
  // No answer at all is recorded as client-go records it.
  const auto* transport = Series("rest_client_requests_total",
                                 {{"verb", "GET"}, {"code", "<error>"}, {"resource", "nodes"}});
  ASSERT_NE(transport, nullptr);
  EXPECT_EQ(transport->counter.value, 1);

  const auto* latency = Series("rest_client_request_duration_seconds",
                               {{"verb", "GET"}, {"resource", "devicepools"}});
  ASSERT_NE(latency, nullptr);
  EXPECT_EQ(latency->histogram.sample_count, 2u);
  EXPECT_DOUBLE_EQ(latency->histogram.sample_sum, 0.1);
  // Buckets 0.005, 0.025, 0.1, ...: 30ms and 70ms both fall in le=0.1.
  ASSERT_GE(latency->histogram.bucket.size(), 3u);
  EXPECT_EQ(latency->histogram.bucket[1].upper_bound, 0.025);
  EXPECT_EQ(latency->histogram.bucket[1].cumulative_count, 0u);
  EXPECT_EQ(latency->histogram.bucket[2].upper_bound, 0.1);
  EXPECT_EQ(latency->histogram.bucket[2].cumulative_count, 2u);
}

TEST_F(MetricsTest, ReconcileCountsResultsErrorsAndTime) {
  metrics_.ObserveReconcile("devicepool", ReconcileResult::kSuccess, milliseconds(20));
  metrics_.ObserveReconcile("devicepool", ReconcileResult::kError, milliseconds(40));
  metrics_.ObserveReconcile("devicepool", ReconcileResult::kError, milliseconds(40));
  metrics_.ObserveReconcile("devicepool", ReconcileResult::kRequeueAfter, milliseconds(1));
  metrics_.ObserveReconcile("node", ReconcileResult::kRequeue, milliseconds(1));

  const auto* errors = Series("controller_runtime_reconcile_total",
                              {{"controller", "devicepool"}, {"result", "error"}});
  ASSERT_NE(errors, nullptr);
  EXPECT_EQ(errors->counter.value, 2);
  const auto* after = Series("controller_runtime_reconcile_total",
                             {{"controller", "devicepool"}, {"result", "requeue_after"}});
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(after->counter.value, 1);
  const auto* requeue = Series("controller_runtime_reconcile_total",
                               {{"controller", "node"}, {"result", "requeue"}});
  ASSERT_NE(requeue, nullptr);
  EXPECT_EQ(requeue->counter.value, 1);

  const auto* error_total =
      Series("controller_runtime_reconcile_errors_total", {{"controller", "devicepool"}});
  ASSERT_NE(error_total, nullptr);
  EXPECT_EQ(error_total->counter.value, 2);
  // Only errors count as errors.
  EXPECT_EQ(Family("controller_runtime_reconcile_errors_total")->metric.size(), 1u);

  const auto* time =
      Series("controller_runtime_reconcile_time_seconds", {{"controller", "devicepool"}});
  ASSERT_NE(time, nullptr);
  EXPECT_EQ(time->histogram.sample_count, 4u);
  EXPECT_DOUBLE_EQ(time->histogram.sample_sum, 0.101);
}

TEST_F(MetricsTest, NamesFollowPrometheusConventions) {
  metrics_.ObserveRequest("GET", "nodes", 200, milliseconds(1));
  metrics_.ObserveReconcile("c", ReconcileResult::kError, milliseconds(1));
  const std::regex snake("[a-z][a-z0-9_]*");
  const std::vector<prometheus::MetricFamily> families = registry_.Collect();
  ASSERT_EQ(families.size(), 5u);
  for (const auto& family : families) {
    EXPECT_TRUE(std::regex_match(family.name, snake)) << family.name;
    EXPECT_FALSE(family.help.empty()) << family.name;
    const bool total = family.name.ends_with("_total");
    EXPECT_EQ(family.type == prometheus::MetricType::Counter, total) << family.name;
    if (family.type == prometheus::MetricType::Histogram) {
      EXPECT_TRUE(family.name.ends_with("_seconds")) << family.name;
    }
  }
}

TEST(ReconcileResultTest, NamesMatchControllerRuntime) {
  EXPECT_EQ(ReconcileResultName(ReconcileResult::kSuccess), "success");
  EXPECT_EQ(ReconcileResultName(ReconcileResult::kError), "error");
  EXPECT_EQ(ReconcileResultName(ReconcileResult::kRequeue), "requeue");
  EXPECT_EQ(ReconcileResultName(ReconcileResult::kRequeueAfter), "requeue_after");
}

}  // namespace
}  // namespace hf::kube
