#include "kube/metrics/metrics.h"

#include <string>

namespace hf::kube {
namespace {

// client-go's boundaries for rest_client_request_duration_seconds: requests
// take milliseconds on a healthy API server and up to the client timeout on a
// sick one. Same `le` values as other components, so queries can join them.
const prometheus::Histogram::BucketBoundaries& RestBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60};
  return *buckets;
}

// A reconcile is cached reads plus a few writes: milliseconds, with a tail to
// the client timeout. Covers controller-runtime's range (5ms..60s) with 13
// buckets instead of its 40, since every bucket is a series per controller.
const prometheus::Histogram::BucketBoundaries& ReconcileBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return *buckets;
}

}  // namespace

std::string_view ReconcileResultName(ReconcileResult result) {
  switch (result) {
    case ReconcileResult::kSuccess: return "success";
    case ReconcileResult::kError: return "error";
    case ReconcileResult::kRequeue: return "requeue";
    case ReconcileResult::kRequeueAfter: return "requeue_after";
  }
  return "unknown";
}

Metrics::Metrics(prometheus::Registry& registry)
    : rest_requests_(prometheus::BuildCounter()
                         .Name("rest_client_requests_total")
                         .Help("Number of HTTP requests to the API server, by verb, status code "
                               "and resource.")
                         .Register(registry)),
      rest_duration_(prometheus::BuildHistogram()
                         .Name("rest_client_request_duration_seconds")
                         .Help("Latency of HTTP requests to the API server, by verb and "
                               "resource.")
                         .Register(registry)),
      reconcile_total_(prometheus::BuildCounter()
                           .Name("controller_runtime_reconcile_total")
                           .Help("Number of reconciliations per controller, by result.")
                           .Register(registry)),
      reconcile_errors_(prometheus::BuildCounter()
                            .Name("controller_runtime_reconcile_errors_total")
                            .Help("Number of reconciliation errors per controller.")
                            .Register(registry)),
      reconcile_time_(prometheus::BuildHistogram()
                          .Name("controller_runtime_reconcile_time_seconds")
                          .Help("Length of time per reconciliation per controller.")
                          .Register(registry)) {}

void Metrics::ObserveRequest(std::string_view verb, std::string_view resource, int code,
                             std::chrono::duration<double> elapsed) {
  const std::string code_label = code == 0 ? "<error>" : std::to_string(code);
  rest_requests_
      .Add({{"verb", std::string(verb)}, {"code", code_label}, {"resource", std::string(resource)}})
      .Increment();
  rest_duration_.Add({{"verb", std::string(verb)}, {"resource", std::string(resource)}},
                     RestBuckets())
      .Observe(elapsed.count());
}

void Metrics::ObserveReconcile(std::string_view controller, ReconcileResult result,
                               std::chrono::duration<double> elapsed) {
  const std::string name(controller);
  reconcile_total_.Add({{"controller", name}, {"result", std::string(ReconcileResultName(result))}})
      .Increment();
  if (result == ReconcileResult::kError) reconcile_errors_.Add({{"controller", name}}).Increment();
  reconcile_time_.Add({{"controller", name}}, ReconcileBuckets()).Observe(elapsed.count());
}

}  // namespace hf::kube
