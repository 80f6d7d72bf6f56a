// HealthMonitor over real temp dirs: inotify events turn devices Unhealthy
// and Healthy again without waiting for the interval, and the interval
// catches what inotify cannot see. The monitor's clock is a FakeClock that
// only the interval test steps, once the monitor waits on it
// (BlockUntilWaiters). Tests wait on the store's change notification,
// bounded in real time only for a test that fails, never on time passing.
#include "agent/health_monitor.h"

#include <gtest/gtest.h>

#include <prometheus/registry.h>

#include "agent/paths_scanner.h"
#include "agent/pci_scanner.h"
#include "agent/simulated_scanner.h"
#include "tests/agent/testing/metrics.h"
#include "tests/agent/testing/temp_dir.h"

namespace hf::agent {
namespace {

using testing::MetricValue;
using testing::TempDir;

constexpr auto kNever = std::chrono::hours(1);  // the clock is never stepped this far

class HealthMonitorTest : public ::testing::Test {
 protected:
  // The next state after `seen`; the bound only limits a failing test.
  std::shared_ptr<const DeviceState> Next(uint64_t seen) {
    kube::Clock& real = kube::DefaultClock();
    auto s = store_.WaitForChange(seen, std::stop_token(), real, real.Now() + std::chrono::seconds(10));
    EXPECT_NE(s->version, seen) << "no change arrived";
    return s;
  }

  TempDir t_;
  kube::FakeClock clock_;
  prometheus::Registry registry_;
  AgentMetrics metrics_{registry_, "gpu", "node-a"};
  DeviceStore store_{1};
};

TEST_F(HealthMonitorTest, SimulatedFileRemovedAndRestored) {
  SimulatedScanner scanner(t_.Path("dev"), t_.Path("sys"), "sim", 2);
  HealthMonitor monitor(scanner, store_, metrics_, kNever, clock_);
  ASSERT_TRUE(monitor.Start().ok());
  auto s = store_.Get();
  ASSERT_TRUE(s->scanned) << "Start scans before returning";
  ASSERT_EQ(s->set.Healthy(), 2);

  t_.Remove("dev/sim-1");
  s = Next(s->version);
  EXPECT_TRUE(s->set.Find("sim-0")->healthy);
  EXPECT_FALSE(s->set.Find("sim-1")->healthy);

  t_.WriteFile("dev/sim-1", "back\n");
  s = Next(s->version);
  EXPECT_TRUE(s->set.Find("sim-1")->healthy);
  monitor.Stop();

  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_health_transitions_total", {{"to", "unhealthy"}}), 1);
  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_health_transitions_total", {{"to", "healthy"}}), 1);
  EXPECT_EQ(MetricValue(registry_, "hashfoundry_agent_devices", {{"state", "healthy"}}), 2);
  EXPECT_EQ(
      MetricValue(registry_, "hashfoundry_agent_devices", {{"state", "total"}, {"pool", "gpu"}, {"node", "node-a"}}), 2);
}

TEST_F(HealthMonitorTest, PathsDeviceAppearsAndDisappears) {
  t_.WriteFile("dev/accel/a0");
  PathsScanner scanner(t_.Path("dev"), t_.Path("sys"), {"/dev/accel/a*"});
  HealthMonitor monitor(scanner, store_, metrics_, kNever, clock_);
  ASSERT_TRUE(monitor.Start().ok());
  auto s = store_.Get();
  ASSERT_EQ(s->set.Total(), 1);

  t_.WriteFile("dev/accel/a1");
  s = Next(s->version);
  ASSERT_NE(s->set.Find("accel_a1"), nullptr);
  EXPECT_TRUE(s->set.Find("accel_a1")->healthy);

  t_.Remove("dev/accel/a0");
  s = Next(s->version);
  ASSERT_NE(s->set.Find("accel_a0"), nullptr) << "a device once found stays listed";
  EXPECT_FALSE(s->set.Find("accel_a0")->healthy);
}

TEST_F(HealthMonitorTest, PathsDirectoryCreatedLater) {
  t_.MakeDirs("dev");
  PathsScanner scanner(t_.Path("dev"), t_.Path("sys"), {"/dev/infiniband/uverbs*"});
  HealthMonitor monitor(scanner, store_, metrics_, kNever, clock_);
  ASSERT_TRUE(monitor.Start().ok());
  auto s = store_.Get();
  ASSERT_EQ(s->set.Total(), 0);
  // The directory appears (seen on /dev), then the device in it (seen on
  // the directory, watched from the next round).
  t_.MakeDirs("dev/infiniband");
  t_.WriteFile("dev/infiniband/uverbs0");
  while (s->set.Total() == 0) s = Next(s->version);
  EXPECT_TRUE(s->set.Find("infiniband_uverbs0")->healthy);
}

TEST_F(HealthMonitorTest, PciDeviceDirectoryGone) {
  t_.WriteFile("sys/devices/p/0000:3b:00.0/vendor", "0x10de\n");
  t_.WriteFile("sys/devices/p/0000:3b:00.0/device", "0x1eb8\n");
  t_.Symlink(t_.Path("sys/devices/p/0000:3b:00.0"), "sys/bus/pci/devices/0000:3b:00.0");
  PciScanner scanner(t_.Path("dev"), t_.Path("sys"), "10de", {});
  HealthMonitor monitor(scanner, store_, metrics_, kNever, clock_);
  ASSERT_TRUE(monitor.Start().ok());
  auto s = store_.Get();
  ASSERT_TRUE(s->set.Find("0000:3b:00.0")->healthy);

  t_.Remove("sys/bus/pci/devices/0000:3b:00.0");
  s = Next(s->version);
  EXPECT_FALSE(s->set.Find("0000:3b:00.0")->healthy);
  t_.Symlink(t_.Path("sys/devices/p/0000:3b:00.0"), "sys/bus/pci/devices/0000:3b:00.0");
  s = Next(s->version);
  EXPECT_TRUE(s->set.Find("0000:3b:00.0")->healthy);
}

TEST_F(HealthMonitorTest, IntervalRescanCatchesWhatInotifyMisses) {
  t_.WriteFile("sys/devices/p/0000:3b:00.0/vendor", "0x10de\n");
  t_.WriteFile("sys/devices/p/0000:3b:00.0/device", "0x1eb8\n");
  t_.WriteFile("sys/devices/p/0000:3b:00.0/numa_node", "0\n");
  t_.Symlink(t_.Path("sys/devices/p/0000:3b:00.0"), "sys/bus/pci/devices/0000:3b:00.0");
  PciScanner scanner(t_.Path("dev"), t_.Path("sys"), "10de", {});
  constexpr auto kInterval = std::chrono::seconds(30);
  HealthMonitor monitor(scanner, store_, metrics_, kInterval, clock_);
  ASSERT_TRUE(monitor.Start().ok());
  auto s = store_.Get();
  ASSERT_EQ(s->set.Find("0000:3b:00.0")->numa_node, 0);
  // Inside the device's own directory, which is not watched (as sysfs
  // attributes never notify).
  t_.WriteFile("sys/devices/p/0000:3b:00.0/numa_node", "1\n");
  clock_.BlockUntilWaiters(1);  // the monitor waits for its first interval
  EXPECT_EQ(store_.Get()->version, s->version) << "rescanned before the interval passed";
  clock_.Step(kInterval);
  s = Next(s->version);
  EXPECT_EQ(s->set.Find("0000:3b:00.0")->numa_node, 1);

  // And every interval after: the monitor's alarm left the clock before it
  // rang, so this waiter is the second interval's.
  t_.WriteFile("sys/devices/p/0000:3b:00.0/numa_node", "0\n");
  clock_.BlockUntilWaiters(1);
  EXPECT_EQ(store_.Get()->version, s->version);
  clock_.Step(kInterval);
  s = Next(s->version);
  EXPECT_EQ(s->set.Find("0000:3b:00.0")->numa_node, 0);
}

TEST_F(HealthMonitorTest, RescanOnRequest) {
  t_.WriteFile("sys/devices/p/0000:3b:00.0/vendor", "0x10de\n");
  t_.WriteFile("sys/devices/p/0000:3b:00.0/device", "0x1eb8\n");
  t_.Symlink(t_.Path("sys/devices/p/0000:3b:00.0"), "sys/bus/pci/devices/0000:3b:00.0");
  PciScanner scanner(t_.Path("dev"), t_.Path("sys"), "10de", {});
  HealthMonitor monitor(scanner, store_, metrics_, kNever, clock_);
  ASSERT_TRUE(monitor.Start().ok());
  auto s = store_.Get();
  t_.WriteFile("sys/devices/p/0000:3b:00.0/numa_node", "1\n");
  monitor.Rescan();
  s = Next(s->version);
  EXPECT_EQ(s->set.Find("0000:3b:00.0")->numa_node, 1);
}

}  // namespace
}  // namespace hf::agent
