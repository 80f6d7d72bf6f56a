// HealthMonitor: keeps the DeviceStore current. It scans once in Start (so
// the first device list exists before the agent serves), then on its own
// thread rescans whenever inotify reports a change in one of the scanner's
// directories (a device node removed or added, a PCI device gone) and every
// `interval` on the kube::Clock given, as a backstop for changes inotify
// cannot see (sysfs). Health flips are logged and counted.
//
// Thread-safety: Start and Stop from one thread; Rescan from any thread.
#ifndef HF_AGENT_HEALTH_MONITOR_H_
#define HF_AGENT_HEALTH_MONITOR_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "agent/agent_metrics.h"
#include "agent/device_store.h"
#include "agent/inotify.h"
#include "agent/scanner.h"
#include "kube/clock.h"
#include "kube/status.h"
#include "kube/mutex.h"

namespace hf::agent {

class HealthMonitor {
 public:
  HealthMonitor(Scanner& scanner, DeviceStore& store, AgentMetrics& metrics, std::chrono::milliseconds interval,
                kube::Clock& clock = kube::DefaultClock());
  ~HealthMonitor();  // Stops.

  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  // Prepares the scanner, scans once, starts watching. Errors only when
  // inotify itself is unavailable; a failed scan is recorded in the store.
  kube::Status Start();
  void Stop();

  // Asks the monitor thread for a scan now.
  void Rescan();

 private:
  void Run();
  void ScanOnce();
  // Watches the scanner's directories; true if one was not watched before.
  bool RefreshWatches();

  Scanner& scanner_;
  DeviceStore& store_;
  AgentMetrics& metrics_;
  const std::chrono::milliseconds interval_;
  kube::Clock& clock_;
  kube::Mutex mu_;
  // Set under mu_ by Start, then used unlocked by the thread it starts.
  std::unique_ptr<Inotify> inotify_;
  // Monitor thread only (and Start, before it runs).
  std::set<int> watched_;              // live watch descriptors
  std::set<std::string> unwatchable_;  // logged once each
  std::atomic<bool> stopping_{false};
  std::atomic<bool> rescan_{false};
  std::thread thread_;
};

}  // namespace hf::agent

#endif  // HF_AGENT_HEALTH_MONITOR_H_
