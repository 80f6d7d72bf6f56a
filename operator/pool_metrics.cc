#include "operator/pool_metrics.h"

#include <prometheus/gauge.h>

#include "api/names.h"

namespace hf::controller {

PoolMetrics::PoolMetrics(prometheus::Registry& registry)
    : nodes_(prometheus::BuildGauge()
                 .Name("hashfoundry_pool_nodes")
                 .Help("Nodes of a DevicePool by state: selected, labelled, registered, ready.")
                 .Register(registry)),
      devices_(prometheus::BuildGauge()
                   .Name("hashfoundry_pool_devices")
                   .Help("Devices of a DevicePool by state: total, healthy, unhealthy, allocated.")
                   .Register(registry)),
      ready_(prometheus::BuildGauge()
                 .Name("hashfoundry_pool_ready")
                 .Help("1 when the DevicePool's Ready condition is True.")
                 .Register(registry)),
      rollout_phase_(prometheus::BuildGauge()
                         .Name("hashfoundry_pool_rollout_phase")
                         .Help("1 for the phase the pool's agent rollout is in (status.rollout.phase), 0 for "
                               "the others: Idle, Canary, Progressing, Paused, Failed, RolledBack, Complete.")
                         .Register(registry)),
      rollout_nodes_(prometheus::BuildGauge()
                         .Name("hashfoundry_pool_rollout_nodes")
                         .Help("Nodes of the pool's agent rollout by state: total, updated (on the update "
                               "revision, gate held), in_progress (replaced, gate pending or baking), failed.")
                         .Register(registry)) {}

namespace {
constexpr api::RolloutPhase kPhases[] = {api::RolloutPhase::kIdle,     api::RolloutPhase::kCanary,
                                         api::RolloutPhase::kProgressing, api::RolloutPhase::kPaused,
                                         api::RolloutPhase::kFailed,   api::RolloutPhase::kRolledBack,
                                         api::RolloutPhase::kComplete};
}  // namespace

void PoolMetrics::SetGauge(prometheus::Family<prometheus::Gauge>& f, const std::string& pool, const char* state,
                           double v) {
  f.Add({{"pool", pool}, {"state", state}}).Set(v);
}

void PoolMetrics::Set(const std::string& pool, const api::DevicePoolStatus& st) {
  kube::MutexLock l(mu_);
  SetGauge(nodes_, pool, "selected", st.nodes.selected);
  SetGauge(nodes_, pool, "labelled", st.nodes.labelled);
  SetGauge(nodes_, pool, "registered", st.nodes.registered);
  SetGauge(nodes_, pool, "ready", st.nodes.ready);
  SetGauge(devices_, pool, "total", st.devices.total);
  SetGauge(devices_, pool, "healthy", st.devices.healthy);
  SetGauge(devices_, pool, "unhealthy", st.devices.total - st.devices.healthy);
  SetGauge(devices_, pool, "allocated", st.devices.allocated);
  const auto* ready = api::FindCondition(st.conditions, api::kConditionReady);
  ready_.Add({{"pool", pool}}).Set(ready != nullptr && ready->status == api::ConditionStatus::kTrue ? 1 : 0);
  for (api::RolloutPhase p : kPhases) {
    rollout_phase_.Add({{"pool", pool}, {"phase", std::string(api::RolloutPhaseName(p))}})
        .Set(p == st.rollout.phase ? 1 : 0);
  }
  SetGauge(rollout_nodes_, pool, "total", st.rollout.total_nodes);
  SetGauge(rollout_nodes_, pool, "updated", st.rollout.updated_nodes);
  SetGauge(rollout_nodes_, pool, "in_progress", static_cast<double>(st.rollout.nodes.size()));
  SetGauge(rollout_nodes_, pool, "failed", static_cast<double>(st.rollout.failed.size()));
}

void PoolMetrics::Remove(const std::string& pool) {
  kube::MutexLock l(mu_);
  for (const char* s : {"selected", "labelled", "registered", "ready"}) {
    nodes_.Remove(&nodes_.Add({{"pool", pool}, {"state", s}}));
  }
  for (const char* s : {"total", "healthy", "unhealthy", "allocated"}) {
    devices_.Remove(&devices_.Add({{"pool", pool}, {"state", s}}));
  }
  ready_.Remove(&ready_.Add({{"pool", pool}}));
  for (api::RolloutPhase p : kPhases) {
    rollout_phase_.Remove(&rollout_phase_.Add({{"pool", pool}, {"phase", std::string(api::RolloutPhaseName(p))}}));
  }
  for (const char* s : {"total", "updated", "in_progress", "failed"}) {
    rollout_nodes_.Remove(&rollout_nodes_.Add({{"pool", pool}, {"state", s}}));
  }
}

}  // namespace hf::controller
