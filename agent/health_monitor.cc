#include "agent/health_monitor.h"

#include <spdlog/spdlog.h>

#include "agent/alarm.h"
#include "kube/thread_name.h"

namespace hf::agent {

HealthMonitor::HealthMonitor(Scanner& scanner, DeviceStore& store, AgentMetrics& metrics,
                             std::chrono::milliseconds interval, kube::Clock& clock)
    : scanner_(scanner), store_(store), metrics_(metrics), interval_(interval), clock_(clock) {}

HealthMonitor::~HealthMonitor() { Stop(); }

kube::Status HealthMonitor::Start() {
  kube::StatusOr<std::unique_ptr<Inotify>> inotify = Inotify::Create();
  if (!inotify.ok()) return inotify.status();
  {
    kube::MutexLock l(mu_);
    inotify_ = std::move(*inotify);
  }
  if (kube::Status st = scanner_.Prepare(); !st.ok()) spdlog::warn("preparing discovery: {}", st.message());
  // Watches go in before the first scan so no change after it is missed.
  (void)RefreshWatches();
  ScanOnce();
  spdlog::info("discovery {}: {} devices", scanner_.Describe(), store_.Get()->set.devices().size());
  thread_ = std::thread([this] {
    kube::SetThreadName("health");
    Run();
  });
  return kube::Status::Ok();
}

void HealthMonitor::Stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  inotify_->Interrupt();
  thread_.join();
}

void HealthMonitor::Rescan() {
  rescan_ = true;
  kube::MutexLock l(mu_);
  if (inotify_) inotify_->Interrupt();
}

void HealthMonitor::Run() {
  // The interval is on the clock; poll(2) is not, so the alarm interrupts
  // the wait when the next scan is due.
  Alarm alarm(clock_, [this] { inotify_->Interrupt(); }, "health-alarm");
  kube::Clock::TimePoint next = clock_.Now() + interval_;
  while (!stopping_) {
    // A directory watched only now may have changed before its watch
    // existed, so a new watch means a scan.
    if (RefreshWatches()) {
      ScanOnce();
      continue;
    }
    alarm.Set(next);
    std::vector<Inotify::Event> events = inotify_->Wait();
    if (stopping_) break;
    for (const Inotify::Event& e : events) {
      if (e.mask & IN_IGNORED) watched_.erase(e.wd);
    }
    bool due = clock_.Now() >= next;
    bool requested = rescan_.exchange(false);
    if (events.empty() && !due && !requested) continue;
    ScanOnce();
    if (due) next = clock_.Now() + interval_;
  }
}

void HealthMonitor::ScanOnce() {
  kube::StatusOr<std::vector<Device>> scan = scanner_.Scan();
  metrics_.ObserveScan(scan.ok());
  if (!scan.ok()) spdlog::warn("device scan failed: {}", scan.status().message());
  for (const HealthTransition& t : store_.Update(scan)) {
    spdlog::info("device {} is now {}", t.id, t.healthy ? "Healthy" : "Unhealthy");
    metrics_.ObserveHealthTransition(t.healthy);
  }
  std::shared_ptr<const DeviceState> state = store_.Get();
  metrics_.SetDevices(state->set.Healthy(), state->set.Total() - state->set.Healthy());
}

bool HealthMonitor::RefreshWatches() {
  bool added = false;
  // Re-added every round: directories come and go, and re-adding a watched
  // directory returns its existing descriptor.
  for (const std::string& dir : scanner_.WatchDirs()) {
    kube::StatusOr<int> wd = inotify_->Watch(dir);
    if (wd.ok()) {
      unwatchable_.erase(dir);
      added = watched_.insert(*wd).second || added;
    } else if (unwatchable_.insert(dir).second) {
      spdlog::debug("not watching {}: {}", dir, wd.status().message());
    }
  }
  return added;
}

}  // namespace hf::agent
