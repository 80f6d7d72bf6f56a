#include "agent/device_store.h"

#include <algorithm>
#include <map>

namespace hf::agent {

DeviceStore::DeviceStore(int replicas)
    : replicas_(replicas), state_(std::make_shared<DeviceState>(DeviceState{0, DeviceSet({}, replicas), false, ""})) {}

std::vector<HealthTransition> DeviceStore::Update(const kube::StatusOr<std::vector<Device>>& scan) {
  std::vector<HealthTransition> transitions;
  std::shared_ptr<const DeviceState> next;
  {
    kube::MutexLock l(mu_);
    const DeviceState& old = *state_;
    auto state = std::make_shared<DeviceState>();
    state->version = old.version;
    if (scan.ok()) {
      std::map<std::string, Device, std::function<bool(const std::string&, const std::string&)>> merged(
          [](const std::string& a, const std::string& b) { return NaturalLess(a, b); });
      for (const Device& d : *scan) merged.emplace(d.id, d);
      for (const Device& d : old.set.devices()) {
        auto [it, inserted] = merged.emplace(d.id, d);
        if (inserted) it->second.healthy = false;  // known, now missing
        if (it->second.healthy != d.healthy) transitions.push_back({d.id, it->second.healthy});
      }
      std::vector<Device> devices;
      devices.reserve(merged.size());
      for (auto& [id, d] : merged) devices.push_back(std::move(d));
      state->set = DeviceSet(std::move(devices), replicas_);
      state->scanned = true;
    } else {
      state->set = old.set;
      state->scanned = old.scanned;
      state->scan_error = scan.status().message();
    }
    if (state->set.devices() == old.set.devices() && state->scanned == old.scanned &&
        state->scan_error == old.scan_error) {
      return transitions;
    }
    ++state->version;
    state_ = state;
    next = state;
  }
  changed_.notify_all();
  for (const auto& fn : subscribers_) fn(*next);
  return transitions;
}

std::shared_ptr<const DeviceState> DeviceStore::Get() const {
  kube::MutexLock l(mu_);
  return state_;
}

std::shared_ptr<const DeviceState> DeviceStore::WaitForChange(uint64_t seen, std::stop_token stop, kube::Clock& clock,
                                                              kube::Clock::TimePoint deadline) const {
  // kube::Clock waits on a std::condition_variable, which knows no
  // stop_token: a stop wakes the wait through this callback. It takes mu_,
  // so it cannot notify between the check below and the wait; made before
  // the lock, as it runs at once when stop was already requested.
  std::stop_callback wake(stop, [this] {
    kube::MutexLock l(mu_);
    changed_.notify_all();
  });
  kube::MutexLock l(mu_);
  while (state_->version == seen && !stop.stop_requested() && clock.Now() < deadline) {
    clock.WaitUntil(l.native(), changed_, deadline);
  }
  return state_;
}

void DeviceStore::Subscribe(std::function<void(const DeviceState&)> fn) { subscribers_.push_back(std::move(fn)); }

}  // namespace hf::agent
