// AgentMetrics: the agent's Prometheus families, all named
// hashfoundry_agent_* and labelled with the agent's pool and node (the
// operator's PrometheusRule selects hashfoundry_agent_devices by pool and
// sums by node): devices by state (total, healthy, unhealthy, allocated),
// Allocate calls and latency, registrations, health transitions, kubelet
// restarts seen, scans and DevicePoolNode writes.
//
// Thread-safety: every method may be called concurrently (prometheus-cpp
// metrics lock internally). The registry must outlive this object.
#ifndef HF_AGENT_AGENT_METRICS_H_
#define HF_AGENT_AGENT_METRICS_H_

#include <chrono>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace hf::agent {

class AgentMetrics {
 public:
  AgentMetrics(prometheus::Registry& registry, const std::string& pool, const std::string& node);

  AgentMetrics(const AgentMetrics&) = delete;
  AgentMetrics& operator=(const AgentMetrics&) = delete;

  // Advertised devices (after sharing), as the kubelet counts them.
  void SetDevices(int healthy, int unhealthy);
  // Advertised devices held by containers.
  void SetAllocated(int allocated);
  void ObserveAllocate(bool ok, std::chrono::duration<double> elapsed);
  void ObserveRegistration(bool ok);
  void SetRegistered(bool registered);
  void ObserveHealthTransition(bool healthy);
  void ObserveKubeletRestart();
  void ObserveScan(bool ok);
  void ObserveReportWrite(bool ok);

 private:
  AgentMetrics(prometheus::Registry& registry, const prometheus::Labels& labels);

  // Families first: the metrics below are initialised from them.
  prometheus::Family<prometheus::Gauge>& devices_;
  prometheus::Family<prometheus::Counter>& allocations_;
  prometheus::Family<prometheus::Counter>& registrations_;
  prometheus::Family<prometheus::Counter>& transitions_;
  prometheus::Family<prometheus::Counter>& scans_;
  prometheus::Family<prometheus::Counter>& report_writes_;

  prometheus::Gauge& devices_total_;
  prometheus::Gauge& devices_healthy_;
  prometheus::Gauge& devices_unhealthy_;
  prometheus::Gauge& devices_allocated_;
  prometheus::Counter& allocations_ok_;
  prometheus::Counter& allocations_error_;
  prometheus::Histogram& allocate_seconds_;
  prometheus::Counter& registrations_ok_;
  prometheus::Counter& registrations_error_;
  prometheus::Gauge& registered_;
  prometheus::Counter& to_healthy_;
  prometheus::Counter& to_unhealthy_;
  prometheus::Counter& kubelet_restarts_;
  prometheus::Counter& scans_ok_;
  prometheus::Counter& scans_error_;
  prometheus::Counter& report_writes_ok_;
  prometheus::Counter& report_writes_error_;
};

}  // namespace hf::agent

#endif  // HF_AGENT_AGENT_METRICS_H_
