#include "agent/preferred_allocation.h"

#include <algorithm>
#include <climits>
#include <deque>
#include <map>
#include <set>
#include <tuple>

#include "agent/id_list.h"

namespace hf::agent {
namespace {

// An available id that is not must-include, on a known healthy device.
struct Pick {
  std::string id;
  size_t device;  // index into DeviceSet::devices()
};

// Devices without a NUMA node form one group, ordered after the real nodes.
int GroupOf(const DeviceSet& set, size_t device) { return set.devices()[device].numa_node.value_or(INT_MAX); }

// What is already chosen, per device and per NUMA group.
struct Usage {
  std::map<size_t, int> device;
  std::map<int, int> group;
};

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

void TakeLowest(const std::vector<Pick>& picks, int remaining, std::vector<std::string>* chosen) {
  for (size_t i = 0; i < picks.size() && remaining > 0; ++i, --remaining) chosen->push_back(picks[i].id);
}

void TakePacked(const DeviceSet& set, const std::vector<Pick>& picks, const Usage& usage, int remaining,
                std::vector<std::string>* chosen) {
  std::map<int, std::vector<const Pick*>> groups;
  for (const Pick& p : picks) groups[GroupOf(set, p.device)].push_back(&p);
  struct Group {
    int key;
    int used;
    int free;
  };
  std::vector<Group> order;
  for (const auto& [key, list] : groups) {
    auto used = usage.group.find(key);
    order.push_back({key, used == usage.group.end() ? 0 : used->second, static_cast<int>(list.size())});
  }
  // A node already in use first; then the smallest node that fits the whole
  // request (keeping big ones free), else the largest (fewest nodes touched).
  std::sort(order.begin(), order.end(), [remaining](const Group& a, const Group& b) {
    if (a.used != b.used) return a.used > b.used;
    bool fa = a.free >= remaining;
    bool fb = b.free >= remaining;
    if (fa != fb) return fa;
    if (a.free != b.free) return fa ? a.free < b.free : a.free > b.free;
    return a.key < b.key;
  });
  for (const Group& g : order) {
    // Within a node, replicas go onto devices already in use, then onto the
    // device with the fewest free replicas, so whole devices stay free.
    std::map<size_t, std::vector<const Pick*>> by_device;
    for (const Pick* p : groups[g.key]) by_device[p->device].push_back(p);
    std::vector<size_t> devices;
    for (const auto& [d, list] : by_device) devices.push_back(d);
    auto used = [&usage](size_t d) {
      auto it = usage.device.find(d);
      return it == usage.device.end() ? 0 : it->second;
    };
    std::sort(devices.begin(), devices.end(), [&](size_t a, size_t b) {
      return std::make_tuple(-used(a), by_device[a].size(), a) < std::make_tuple(-used(b), by_device[b].size(), b);
    });
    for (size_t d : devices) {
      for (const Pick* p : by_device[d]) {
        if (remaining == 0) return;
        chosen->push_back(p->id);
        --remaining;
      }
    }
  }
}

void TakeBalanced(const DeviceSet& set, const std::vector<Pick>& picks, Usage usage, int remaining,
                  std::vector<std::string>* chosen) {
  std::map<size_t, std::deque<const Pick*>> free;  // per device, lowest id first
  for (const Pick& p : picks) free[p.device].push_back(&p);
  // Per group, its devices ordered by (picks so far, index); groups ordered
  // by (picks so far, key).
  std::map<int, std::set<std::pair<int, size_t>>> devices;
  for (const auto& [d, list] : free) devices[GroupOf(set, d)].insert({usage.device[d], d});
  std::set<std::pair<int, int>> groups;
  for (const auto& [key, ds] : devices) groups.insert({usage.group[key], key});
  while (remaining > 0 && !groups.empty()) {
    auto [group_used, key] = *groups.begin();
    groups.erase(groups.begin());
    auto& ds = devices[key];
    auto [device_used, d] = *ds.begin();
    ds.erase(ds.begin());
    chosen->push_back(free[d].front()->id);
    free[d].pop_front();
    --remaining;
    if (!free[d].empty()) ds.insert({device_used + 1, d});
    if (!ds.empty()) groups.insert({group_used + 1, key});
  }
}

}  // namespace

grpc::Status PreferredAllocation(api::AllocationPolicy policy, const DeviceSet& set,
                                 const std::vector<std::string>& available,
                                 const std::vector<std::string>& must_include, int size,
                                 std::vector<std::string>* out) {
  out->clear();
  if (size <= 0) return Invalid("allocation_size must be positive, got " + std::to_string(size));
  std::set<std::string> avail(available.begin(), available.end());
  std::set<std::string> must(must_include.begin(), must_include.end());
  std::vector<std::string> missing;
  for (const std::string& id : must) {
    if (!avail.count(id)) missing.push_back(id);
  }
  if (!missing.empty()) return Invalid("must-include ids are not among the available ids: " + IdList(missing));
  if (must.size() > static_cast<size_t>(size)) {
    return Invalid(std::to_string(must.size()) + " must-include ids exceed allocation_size " + std::to_string(size));
  }
  if (avail.size() < static_cast<size_t>(size)) {
    return Invalid("allocation_size " + std::to_string(size) + " exceeds the " + std::to_string(avail.size()) +
                   " available ids");
  }

  std::vector<std::string> chosen(must.begin(), must.end());
  Usage usage;
  for (const std::string& id : must) {
    if (size_t d = set.IndexOf(id); d != DeviceSet::npos) {
      ++usage.device[d];
      ++usage.group[GroupOf(set, d)];
    }
  }
  std::vector<Pick> picks;
  std::vector<std::string> fallback;
  for (const std::string& id : avail) {
    if (must.count(id)) continue;
    size_t d = set.IndexOf(id);
    if (d != DeviceSet::npos && set.devices()[d].healthy) {
      picks.push_back({id, d});
    } else {
      fallback.push_back(id);
    }
  }
  std::sort(picks.begin(), picks.end(), [](const Pick& a, const Pick& b) {
    if (a.device != b.device) return a.device < b.device;
    return NaturalLess(a.id, b.id);
  });
  std::sort(fallback.begin(), fallback.end(), NaturalLess);

  int remaining = size - static_cast<int>(must.size());
  switch (policy) {
    case api::AllocationPolicy::kPacked:
      TakePacked(set, picks, usage, remaining, &chosen);
      break;
    case api::AllocationPolicy::kBalanced:
      TakeBalanced(set, picks, usage, remaining, &chosen);
      break;
    case api::AllocationPolicy::kNone:
      TakeLowest(picks, remaining, &chosen);
      break;
  }
  for (size_t i = 0; chosen.size() < static_cast<size_t>(size) && i < fallback.size(); ++i) {
    chosen.push_back(fallback[i]);
  }
  std::sort(chosen.begin(), chosen.end(), NaturalLess);
  *out = std::move(chosen);
  return grpc::Status::OK;
}

}  // namespace hf::agent
