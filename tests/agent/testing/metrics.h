// MetricValue: reads one sample from a prometheus-cpp registry, for tests
// that check what the agent counted.
#ifndef HF_TESTS_AGENT_TESTING_METRICS_H_
#define HF_TESTS_AGENT_TESTING_METRICS_H_

#include <prometheus/registry.h>

#include <map>
#include <optional>
#include <string>

namespace hf::agent::testing {

// The value of the counter or gauge `name` whose labels include `labels`;
// for a histogram, its sample count. nullopt when there is none.
inline std::optional<double> MetricValue(prometheus::Registry& registry, const std::string& name,
                                         const std::map<std::string, std::string>& labels = {}) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      bool match = true;
      for (const auto& [k, v] : labels) {
        bool found = false;
        for (const prometheus::ClientMetric::Label& l : metric.label) found = found || (l.name == k && l.value == v);
        match = match && found;
      }
      if (!match) continue;
      switch (family.type) {
        case prometheus::MetricType::Counter:
          return metric.counter.value;
        case prometheus::MetricType::Gauge:
          return metric.gauge.value;
        case prometheus::MetricType::Histogram:
          return static_cast<double>(metric.histogram.sample_count);
        default:
          return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

}  // namespace hf::agent::testing

#endif  // HF_TESTS_AGENT_TESTING_METRICS_H_
