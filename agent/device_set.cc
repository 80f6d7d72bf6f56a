#include "agent/device_set.h"

namespace hf::agent {

DeviceSet::DeviceSet(std::vector<Device> devices, int replicas)
    : devices_(std::move(devices)), replicas_(replicas < 1 ? 1 : replicas) {
  advertised_.reserve(devices_.size() * static_cast<size_t>(replicas_));
  for (size_t i = 0; i < devices_.size(); ++i) {
    for (int r = 0; r < replicas_; ++r) {
      std::string id = AdvertisedId(devices_[i].id, r, replicas_);
      index_.emplace(id, i);
      advertised_.push_back({std::move(id), i});
    }
  }
}

const Device* DeviceSet::Find(std::string_view advertised_id) const {
  size_t i = IndexOf(advertised_id);
  return i == npos ? nullptr : &devices_[i];
}

size_t DeviceSet::IndexOf(std::string_view advertised_id) const {
  auto it = index_.find(advertised_id);
  return it == index_.end() ? npos : it->second;
}

int DeviceSet::Healthy() const {
  int n = 0;
  for (const Device& d : devices_) {
    if (d.healthy) n += replicas_;
  }
  return n;
}

std::string DeviceSet::AdvertisedId(std::string_view id, int replica, int replicas) {
  if (replicas <= 1) return std::string(id);
  return std::string(id) + "::" + std::to_string(replica);
}

}  // namespace hf::agent
