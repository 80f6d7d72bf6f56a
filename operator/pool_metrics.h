// PoolMetrics: per-pool gauges, so dashboards read pool state from the
// operator instead of scraping every kubelet: nodes selected/labelled/
// registered/ready, devices total/healthy/allocated, and where the agent
// rollout stands.
//
// Thread-safety: safe for concurrent use.
#ifndef HF_OPERATOR_POOL_METRICS_H_
#define HF_OPERATOR_POOL_METRICS_H_

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <mutex>
#include <string>

#include "api/device_pool.h"
#include "kube/mutex.h"

namespace hf::controller {

class PoolMetrics {
 public:
  explicit PoolMetrics(prometheus::Registry& registry);
  void Set(const std::string& pool, const api::DevicePoolStatus& status);
  // Drops every series of a deleted pool.
  void Remove(const std::string& pool);

 private:
  void SetGauge(prometheus::Family<prometheus::Gauge>& f, const std::string& pool, const char* state, double v)
      HF_REQUIRES(mu_);
  // A pool's Set and Remove do not interleave, so a Remove cannot leave half
  // of a concurrent Set's series behind.
  kube::Mutex mu_;
  prometheus::Family<prometheus::Gauge>& nodes_ HF_GUARDED_BY(mu_);
  prometheus::Family<prometheus::Gauge>& devices_ HF_GUARDED_BY(mu_);
  prometheus::Family<prometheus::Gauge>& ready_ HF_GUARDED_BY(mu_);
  prometheus::Family<prometheus::Gauge>& rollout_phase_ HF_GUARDED_BY(mu_);
  prometheus::Family<prometheus::Gauge>& rollout_nodes_ HF_GUARDED_BY(mu_);
};

}  // namespace hf::controller

#endif  // HF_OPERATOR_POOL_METRICS_H_
