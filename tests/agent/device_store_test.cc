// DeviceStore: merging scans (a device once found stays, Unhealthy while
// missing), versions, change notification and subscribers.
#include "agent/device_store.h"

#include <gtest/gtest.h>

#include <thread>

namespace hf::agent {
namespace {

Device Dev(std::string id, bool healthy = true) {
  Device d;
  d.id = std::move(id);
  d.healthy = healthy;
  return d;
}

std::vector<Device> Scan(std::initializer_list<Device> devices) { return devices; }

TEST(DeviceStoreTest, StartsEmptyAndUnscanned) {
  DeviceStore store(1);
  auto s = store.Get();
  EXPECT_EQ(s->version, 0u);
  EXPECT_FALSE(s->scanned);
  EXPECT_EQ(s->set.Total(), 0);
}

TEST(DeviceStoreTest, KeepsMissingDevicesAsUnhealthyAndReportsTransitions) {
  DeviceStore store(2);
  EXPECT_TRUE(store.Update(Scan({Dev("d-10"), Dev("d-2")})).empty());
  auto s = store.Get();
  EXPECT_EQ(s->version, 1u);
  EXPECT_TRUE(s->scanned);
  ASSERT_EQ(s->set.devices().size(), 2u);
  EXPECT_EQ(s->set.devices()[0].id, "d-2") << "natural order";
  EXPECT_EQ(s->set.Total(), 4);

  auto t = store.Update(Scan({Dev("d-2")}));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].id, "d-10");
  EXPECT_FALSE(t[0].healthy);
  s = store.Get();
  EXPECT_EQ(s->version, 2u);
  EXPECT_EQ(s->set.devices().size(), 2u);
  EXPECT_FALSE(s->set.Find("d-10::1")->healthy);
  EXPECT_EQ(s->set.Healthy(), 2);

  t = store.Update(Scan({Dev("d-2"), Dev("d-10")}));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_TRUE(t[0].healthy);
  EXPECT_EQ(store.Get()->set.Healthy(), 4);
}

TEST(DeviceStoreTest, SameScanIsNoChange) {
  DeviceStore store(1);
  (void)store.Update(Scan({Dev("a")}));
  int calls = 0;
  store.Subscribe([&](const DeviceState&) { ++calls; });
  (void)store.Update(Scan({Dev("a")}));
  EXPECT_EQ(store.Get()->version, 1u);
  EXPECT_EQ(calls, 0);
  (void)store.Update(Scan({Dev("a", false)}));
  EXPECT_EQ(store.Get()->version, 2u);
  EXPECT_EQ(calls, 1);
}

TEST(DeviceStoreTest, FailedScanKeepsDevicesAndRecordsTheError) {
  DeviceStore store(1);
  (void)store.Update(Scan({Dev("a")}));
  (void)store.Update(kube::Status(kube::Reason::kNotFound, "no sysfs"));
  auto s = store.Get();
  EXPECT_EQ(s->scan_error, "no sysfs");
  EXPECT_TRUE(s->scanned);
  EXPECT_TRUE(s->set.Find("a")->healthy);
  (void)store.Update(Scan({Dev("a")}));
  EXPECT_TRUE(store.Get()->scan_error.empty());
}

TEST(DeviceStoreTest, WaitForChangeWakesOnUpdateAndOnStop) {
  DeviceStore store(1);
  auto far = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::thread updater([&] { (void)store.Update(Scan({Dev("a")})); });
  auto s = store.WaitForChange(0, std::stop_token(), far);
  updater.join();
  EXPECT_EQ(s->version, 1u);

  std::stop_source stop;
  std::thread stopper([&] { stop.request_stop(); });
  s = store.WaitForChange(1, stop.get_token(), far);
  stopper.join();
  EXPECT_EQ(s->version, 1u);
  EXPECT_TRUE(stop.stop_requested());
}

}  // namespace
}  // namespace hf::agent
