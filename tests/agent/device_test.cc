// NaturalLess, ContainerPath and DeviceSet's replica expansion.
#include <gtest/gtest.h>

#include <algorithm>

#include "agent/device.h"
#include "agent/device_set.h"

namespace hf::agent {
namespace {

TEST(NaturalLessTest, OrdersNumbersByValue) {
  std::vector<std::string> ids = {"dev-10", "dev-2", "dev-1", "dev-02", "a", "dev-1::10", "dev-1::2", "b1", "b01"};
  std::sort(ids.begin(), ids.end(), NaturalLess);
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b1", "b01", "dev-1", "dev-1::2", "dev-1::10", "dev-2", "dev-02",
                                           "dev-10"}));
  EXPECT_FALSE(NaturalLess("x", "x"));
  EXPECT_TRUE(NaturalLess("", "x"));
  EXPECT_FALSE(NaturalLess("x", ""));
  EXPECT_TRUE(NaturalLess("0000:3b:00.0", "0000:af:00.0"));
}

TEST(ContainerPathTest, MovesPathsUnderTheDevRootToDev) {
  EXPECT_EQ(ContainerPath("/tmp/x/dev", "/tmp/x/dev/hashfoundry-device-0"), "/dev/hashfoundry-device-0");
  EXPECT_EQ(ContainerPath("/tmp/x/dev/", "/tmp/x/dev/vfio/12"), "/dev/vfio/12");
  EXPECT_EQ(ContainerPath("/dev", "/dev/fpga0"), "/dev/fpga0");
  EXPECT_EQ(ContainerPath("/tmp/x/dev", "/tmp/x/devices/a"), "/tmp/x/devices/a");
  EXPECT_EQ(ContainerPath("/tmp/x/dev", "/opt/accel/a"), "/opt/accel/a");
}

Device Dev(std::string id, bool healthy = true) {
  Device d;
  d.id = std::move(id);
  d.healthy = healthy;
  return d;
}

TEST(DeviceSetTest, OneReplicaKeepsIds) {
  DeviceSet set({Dev("a"), Dev("b", false)}, 1);
  ASSERT_EQ(set.Total(), 2);
  EXPECT_EQ(set.Healthy(), 1);
  EXPECT_EQ(set.advertised()[0].id, "a");
  EXPECT_EQ(set.Find("b")->id, "b");
  EXPECT_EQ(set.Find("a::0"), nullptr);
}

TEST(DeviceSetTest, ReplicasShareTheirDevice) {
  DeviceSet set({Dev("a"), Dev("b", false)}, 3);
  std::vector<std::string> ids;
  for (const auto& a : set.advertised()) ids.push_back(a.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"a::0", "a::1", "a::2", "b::0", "b::1", "b::2"}));
  EXPECT_EQ(set.Total(), 6);
  EXPECT_EQ(set.Healthy(), 3);
  EXPECT_EQ(set.Find("b::2")->id, "b");
  EXPECT_FALSE(set.Find("b::2")->healthy);
  EXPECT_EQ(set.IndexOf("a::1"), 0u);
  EXPECT_EQ(set.Find("a"), nullptr);
  EXPECT_EQ(set.Find("a::3"), nullptr);
}

}  // namespace
}  // namespace hf::agent
