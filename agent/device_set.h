// DeviceSet: the devices as the kubelet sees them. Each physical device is
// advertised `replicas` times (ids <id>::<n>, or just <id> when replicas is
// 1); every replica shares its device's health, NUMA node and nodes. Lookup
// goes from an advertised id to its device.
//
// Thread-safety: immutable after construction; share it freely.
#ifndef HF_AGENT_DEVICE_SET_H_
#define HF_AGENT_DEVICE_SET_H_

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "agent/device.h"

namespace hf::agent {

class DeviceSet {
 public:
  struct Advertised {
    std::string id;
    size_t device;  // index into devices()
  };

  DeviceSet() = default;
  // `devices` are sorted by NaturalLess of their ids; ids must be unique.
  DeviceSet(std::vector<Device> devices, int replicas);

  const std::vector<Device>& devices() const { return devices_; }
  int replicas() const { return replicas_; }
  // In device order, replicas of a device together.
  const std::vector<Advertised>& advertised() const { return advertised_; }

  // The device behind an advertised id, or nullptr.
  const Device* Find(std::string_view advertised_id) const;
  // Index of the device behind an advertised id, or npos.
  size_t IndexOf(std::string_view advertised_id) const;
  static constexpr size_t npos = static_cast<size_t>(-1);

  // Advertised ids in all and healthy.
  int Total() const { return static_cast<int>(advertised_.size()); }
  int Healthy() const;

  // "<id>::<n>", or `id` when there is one replica per device.
  static std::string AdvertisedId(std::string_view id, int replica, int replicas);

 private:
  std::vector<Device> devices_;
  int replicas_ = 1;
  std::vector<Advertised> advertised_;
  std::map<std::string, size_t, std::less<>> index_;  // advertised id -> device
};

}  // namespace hf::agent

#endif  // HF_AGENT_DEVICE_SET_H_
