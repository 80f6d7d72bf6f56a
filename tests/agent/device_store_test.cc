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

// The clock is a FakeClock: a wait ends on an update, a stop or a Step
// past its deadline, never on real time. Each waiter is on the clock
// (BlockUntilWaiters) before the test wakes it.
TEST(DeviceStoreTest, WaitForChangeWakesOnUpdate) {
  DeviceStore store(1);
  kube::FakeClock clock;
  const auto far = clock.Now() + std::chrono::hours(1);
  std::shared_ptr<const DeviceState> s;
  std::thread waiter([&] { s = store.WaitForChange(0, std::stop_token(), clock, far); });
  clock.BlockUntilWaiters(1);
  (void)store.Update(Scan({Dev("a")}));
  waiter.join();
  EXPECT_EQ(s->version, 1u);
  EXPECT_EQ(store.WaitForChange(0, std::stop_token(), clock, far)->version, 1u)
      << "a version already past `seen` returns at once";
}

TEST(DeviceStoreTest, WaitForChangeWakesOnStop) {
  DeviceStore store(1);
  kube::FakeClock clock;
  const auto far = clock.Now() + std::chrono::hours(1);
  std::stop_source stop;
  std::shared_ptr<const DeviceState> s;
  std::thread waiter([&] { s = store.WaitForChange(0, stop.get_token(), clock, far); });
  clock.BlockUntilWaiters(1);
  stop.request_stop();
  waiter.join();
  EXPECT_EQ(s->version, 0u);
  EXPECT_EQ(store.WaitForChange(0, stop.get_token(), clock, far)->version, 0u)
      << "a stop already requested returns at once";
}

TEST(DeviceStoreTest, WaitForChangeEndsAtTheDeadlineOnItsClock) {
  DeviceStore store(1);
  kube::FakeClock clock;
  std::shared_ptr<const DeviceState> s;
  const auto deadline = clock.Now() + std::chrono::seconds(5);
  std::thread waiter([&] { s = store.WaitForChange(0, std::stop_token(), clock, deadline); });
  clock.BlockUntilWaiters(1);
  clock.Step(std::chrono::seconds(5));
  waiter.join();
  EXPECT_EQ(s->version, 0u);
}

}  // namespace
}  // namespace hf::agent
