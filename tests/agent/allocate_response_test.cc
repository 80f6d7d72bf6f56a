// BuildAllocateResponse's env contract, and BuildAllocateResponse and
// PreferredAllocation on random input: whatever arrives, the answer is
// either an error status or a response that keeps the invariants the
// kubelet (and a workload reading the env) relies on.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "agent/allocate_response.h"
#include "agent/preferred_allocation.h"

namespace hf::agent {
namespace {

DeviceSet Devices() {
  std::vector<Device> devices;
  for (int i = 0; i < 6; ++i) {
    Device d;
    d.id = "d-" + std::to_string(i);
    d.healthy = i != 4;
    if (i % 3 != 2) d.numa_node = i % 2;
    d.nodes.push_back({"/h/d-" + std::to_string(i), "/dev/d-" + std::to_string(i), NodeKind::kFile});
    devices.push_back(std::move(d));
  }
  return DeviceSet(std::move(devices), 2);
}

// Mostly real ids, some unknown, empty or odd.
std::string RandomId(std::mt19937& rng) {
  std::uniform_int_distribution<int> pick(0, 19);
  int p = pick(rng);
  if (p < 14) return "d-" + std::to_string(p % 6) + "::" + std::to_string(p % 2);
  if (p == 14) return "";
  if (p == 15) return "d-1";
  if (p == 16) return "d-9::0";
  if (p == 17) return std::string(300, ':');
  if (p == 18) return "d-0::";
  return std::string("\0\xff", 2);
}

v1beta1::AllocateRequest Request(const std::vector<std::vector<std::string>>& containers) {
  v1beta1::AllocateRequest req;
  for (const auto& ids : containers) {
    auto* r = req.add_container_requests();
    for (const auto& id : ids) r->add_devices_ids(id);
  }
  return req;
}

using Envs = std::map<std::string, std::string>;

Envs EnvsOf(const v1beta1::ContainerAllocateResponse& c) { return Envs(c.envs().begin(), c.envs().end()); }

// The seed's workloads read HASHFOUNDRY_DEVICE_ID and _PATH; with several
// devices they name the first in HASHFOUNDRY_DEVICE_IDS's order (the
// kubelet's order, not sorted).
TEST(AllocateEnvTest, SeedVariablesNameTheFirstDevice) {
  v1beta1::AllocateResponse resp;
  ASSERT_TRUE(BuildAllocateResponse(Devices(), Request({{"d-3::1", "d-0::0"}, {"d-5::0"}}),
                                    {"hashfoundry.com/custom-device", false}, &resp)
                  .ok());
  ASSERT_EQ(resp.container_responses_size(), 2);
  EXPECT_EQ(EnvsOf(resp.container_responses(0)), (Envs{{"HASHFOUNDRY_DEVICE_IDS", "d-3::1,d-0::0"},
                                                         {"HASHFOUNDRY_DEVICE_COUNT", "2"},
                                                         {"HASHFOUNDRY_DEVICE_ID", "d-3::1"},
                                                         {"HASHFOUNDRY_DEVICE_PATH", "/dev/d-3"},
                                                         {"HASHFOUNDRY_DEVICE_0_PATH", "/dev/d-3"},
                                                         {"HASHFOUNDRY_DEVICE_1_PATH", "/dev/d-0"}}));
  EXPECT_EQ(EnvsOf(resp.container_responses(1)), (Envs{{"HASHFOUNDRY_DEVICE_IDS", "d-5::0"},
                                                         {"HASHFOUNDRY_DEVICE_COUNT", "1"},
                                                         {"HASHFOUNDRY_DEVICE_ID", "d-5::0"},
                                                         {"HASHFOUNDRY_DEVICE_PATH", "/dev/d-5"},
                                                         {"HASHFOUNDRY_DEVICE_0_PATH", "/dev/d-5"}}));
}

// With CDI the runtime applies the spec's edits, which carry no env: the
// response's env is the same as without CDI.
TEST(AllocateEnvTest, CdiAnswersTheSameEnv) {
  v1beta1::AllocateRequest req = Request({{"d-1::0", "d-2::1", "d-1::1"}});
  v1beta1::AllocateResponse plain;
  v1beta1::AllocateResponse cdi;
  ASSERT_TRUE(BuildAllocateResponse(Devices(), req, {"hashfoundry.com/custom-device", false}, &plain).ok());
  ASSERT_TRUE(BuildAllocateResponse(Devices(), req, {"hashfoundry.com/custom-device", true}, &cdi).ok());
  EXPECT_EQ(EnvsOf(cdi.container_responses(0)), EnvsOf(plain.container_responses(0)));
  EXPECT_EQ(cdi.container_responses(0).envs().at("HASHFOUNDRY_DEVICE_ID"), "d-1::0");
  EXPECT_EQ(cdi.container_responses(0).envs().at("HASHFOUNDRY_DEVICE_PATH"), "/dev/d-1");
  EXPECT_EQ(cdi.container_responses(0).cdi_devices_size(), 3);
  EXPECT_EQ(cdi.container_responses(0).mounts_size(), 0);
}

// A device without nodes (PCI without VFIO): its id, no path, and no CDI
// device (the spec does not list it).
TEST(AllocateEnvTest, ADeviceWithoutNodesHasNoPath) {
  Device bare;
  bare.id = "0000:af:00.0";
  Device file;
  file.id = "sim-0";
  file.nodes.push_back({"/h/sim-0", "/dev/sim-0", NodeKind::kFile});
  DeviceSet set({bare, file}, 1);
  v1beta1::AllocateResponse resp;
  ASSERT_TRUE(
      BuildAllocateResponse(set, Request({{"0000:af:00.0", "sim-0"}}), {"hashfoundry.com/custom-device", true}, &resp)
          .ok());
  const auto& c = resp.container_responses(0);
  EXPECT_EQ(EnvsOf(c), (Envs{{"HASHFOUNDRY_DEVICE_IDS", "0000:af:00.0,sim-0"},
                            {"HASHFOUNDRY_DEVICE_COUNT", "2"},
                            {"HASHFOUNDRY_DEVICE_ID", "0000:af:00.0"},
                            {"HASHFOUNDRY_DEVICE_1_PATH", "/dev/sim-0"}}));
  ASSERT_EQ(c.cdi_devices_size(), 1);
  EXPECT_EQ(c.cdi_devices(0).name(), "hashfoundry.com/custom-device=sim-0");
}

TEST(RandomInputTest, AllocateAnswersOrRefuses) {
  DeviceSet set = Devices();
  std::mt19937 rng(42);
  int ok = 0;
  for (int round = 0; round < 3000; ++round) {
    v1beta1::AllocateRequest req;
    int containers = std::uniform_int_distribution<int>(0, 3)(rng);
    for (int c = 0; c < containers; ++c) {
      auto* r = req.add_container_requests();
      int n = std::uniform_int_distribution<int>(0, 4)(rng);
      for (int i = 0; i < n; ++i) r->add_devices_ids(RandomId(rng));
    }
    v1beta1::AllocateResponse resp;
    grpc::Status st = BuildAllocateResponse(set, req, {"hashfoundry.com/custom-device", round % 2 == 0}, &resp);
    if (!st.ok()) {
      EXPECT_TRUE(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
                  st.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
      EXPECT_LT(st.error_message().size(), 1024u);
      continue;
    }
    ++ok;
    ASSERT_EQ(resp.container_responses_size(), req.container_requests_size());
    for (int c = 0; c < req.container_requests_size(); ++c) {
      const auto& out = resp.container_responses(c);
      EXPECT_EQ(out.envs().at("HASHFOUNDRY_DEVICE_COUNT"),
                std::to_string(req.container_requests(c).devices_ids_size()));
      EXPECT_EQ(out.envs().at("HASHFOUNDRY_DEVICE_ID"), req.container_requests(c).devices_ids(0));
      EXPECT_EQ(out.envs().at("HASHFOUNDRY_DEVICE_PATH"), out.envs().at("HASHFOUNDRY_DEVICE_0_PATH"));
      for (const std::string& id : req.container_requests(c).devices_ids()) {
        ASSERT_NE(set.Find(id), nullptr);
        EXPECT_TRUE(set.Find(id)->healthy);
      }
    }
  }
  EXPECT_GT(ok, 100) << "the generator produces valid requests too";
}

TEST(RandomInputTest, PreferredAllocationKeepsItsPromises) {
  DeviceSet set = Devices();
  std::mt19937 rng(7);
  int ok = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<std::string> available;
    int n = std::uniform_int_distribution<int>(0, 14)(rng);
    for (int i = 0; i < n; ++i) available.push_back(RandomId(rng));
    std::vector<std::string> must;
    if (!available.empty() && rng() % 2 == 0) must.push_back(available[rng() % available.size()]);
    if (rng() % 8 == 0) must.push_back(RandomId(rng));
    int size = std::uniform_int_distribution<int>(-1, 8)(rng);
    auto policy = static_cast<api::AllocationPolicy>(round % 3);
    std::vector<std::string> got;
    grpc::Status st = PreferredAllocation(policy, set, available, must, size, &got);
    if (!st.ok()) {
      EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      continue;
    }
    ++ok;
    std::set<std::string> avail(available.begin(), available.end());
    std::set<std::string> chosen(got.begin(), got.end());
    EXPECT_EQ(got.size(), static_cast<size_t>(size));
    EXPECT_EQ(chosen.size(), got.size()) << "no duplicates";
    for (const std::string& id : got) EXPECT_TRUE(avail.count(id)) << id;
    for (const std::string& id : must) EXPECT_TRUE(chosen.count(id)) << id;
  }
  EXPECT_GT(ok, 100);
}

}  // namespace
}  // namespace hf::agent
