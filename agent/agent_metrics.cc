#include "agent/agent_metrics.h"

namespace hf::agent {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

prometheus::Family<prometheus::Counter>& Counter(prometheus::Registry& r, const prometheus::Labels& labels,
                                                 const char* name, const char* help) {
  return BuildCounter().Name(name).Help(help).Labels(labels).Register(r);
}

// Allocate answers from memory: tens of microseconds normally, so the
// buckets start far below the kubelet's own 5 ms.
prometheus::Histogram::BucketBoundaries AllocateBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
}

}  // namespace

AgentMetrics::AgentMetrics(prometheus::Registry& r, const std::string& pool, const std::string& node)
    : AgentMetrics(r, prometheus::Labels{{"pool", pool}, {"node", node}}) {}

AgentMetrics::AgentMetrics(prometheus::Registry& r, const prometheus::Labels& l)
    : devices_(BuildGauge()
                   .Name("hashfoundry_agent_devices")
                   .Help("Devices advertised to the kubelet (after sharing), by state: total, healthy, unhealthy, "
                         "allocated (held by containers).")
                   .Labels(l)
                   .Register(r)),
      allocations_(Counter(r, l, "hashfoundry_agent_allocations_total", "Allocate calls answered, by result.")),
      registrations_(
          Counter(r, l, "hashfoundry_agent_registrations_total", "Register calls to the kubelet, by result.")),
      transitions_(Counter(r, l, "hashfoundry_agent_health_transitions_total",
                           "Physical devices changing health, by the state they changed to.")),
      scans_(Counter(r, l, "hashfoundry_agent_scans_total", "Device scans, by result.")),
      report_writes_(Counter(r, l, "hashfoundry_agent_report_writes_total",
                             "DevicePoolNode writes to the API server, by result.")),
      devices_total_(devices_.Add({{"state", "total"}})),
      devices_healthy_(devices_.Add({{"state", "healthy"}})),
      devices_unhealthy_(devices_.Add({{"state", "unhealthy"}})),
      devices_allocated_(devices_.Add({{"state", "allocated"}})),
      allocations_ok_(allocations_.Add({{"result", "success"}})),
      allocations_error_(allocations_.Add({{"result", "error"}})),
      allocate_seconds_(BuildHistogram()
                            .Name("hashfoundry_agent_allocate_duration_seconds")
                            .Help("Time to answer an Allocate call.")
                            .Labels(l)
                            .Register(r)
                            .Add({}, AllocateBuckets())),
      registrations_ok_(registrations_.Add({{"result", "success"}})),
      registrations_error_(registrations_.Add({{"result", "error"}})),
      registered_(BuildGauge()
                      .Name("hashfoundry_agent_registered")
                      .Help("1 while the kubelet registration is live.")
                      .Labels(l)
                      .Register(r)
                      .Add({})),
      to_healthy_(transitions_.Add({{"to", "healthy"}})),
      to_unhealthy_(transitions_.Add({{"to", "unhealthy"}})),
      kubelet_restarts_(Counter(r, l, "hashfoundry_agent_kubelet_restarts_total",
                                "Kubelet restarts seen (its socket re-created after a registration).")
                            .Add({})),
      scans_ok_(scans_.Add({{"result", "success"}})),
      scans_error_(scans_.Add({{"result", "error"}})),
      report_writes_ok_(report_writes_.Add({{"result", "success"}})),
      report_writes_error_(report_writes_.Add({{"result", "error"}})) {}

void AgentMetrics::SetDevices(int healthy, int unhealthy) {
  devices_total_.Set(healthy + unhealthy);
  devices_healthy_.Set(healthy);
  devices_unhealthy_.Set(unhealthy);
}

void AgentMetrics::SetAllocated(int allocated) { devices_allocated_.Set(allocated); }

void AgentMetrics::ObserveAllocate(bool ok, std::chrono::duration<double> elapsed) {
  (ok ? allocations_ok_ : allocations_error_).Increment();
  allocate_seconds_.Observe(elapsed.count());
}

void AgentMetrics::ObserveRegistration(bool ok) { (ok ? registrations_ok_ : registrations_error_).Increment(); }
void AgentMetrics::SetRegistered(bool registered) { registered_.Set(registered ? 1 : 0); }
void AgentMetrics::ObserveHealthTransition(bool healthy) { (healthy ? to_healthy_ : to_unhealthy_).Increment(); }
void AgentMetrics::ObserveKubeletRestart() { kubelet_restarts_.Increment(); }
void AgentMetrics::ObserveScan(bool ok) { (ok ? scans_ok_ : scans_error_).Increment(); }
void AgentMetrics::ObserveReportWrite(bool ok) { (ok ? report_writes_ok_ : report_writes_error_).Increment(); }

}  // namespace hf::agent
