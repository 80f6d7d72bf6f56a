// The three Scanners over fake /dev and /sys trees in temp dirs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "agent/paths_scanner.h"
#include "agent/pci_scanner.h"
#include "agent/simulated_scanner.h"
#include "tests/agent/testing/temp_dir.h"

namespace hf::agent {
namespace {

using testing::TempDir;
using ::testing::ElementsAre;

std::vector<std::string> Ids(const std::vector<Device>& devices) {
  std::vector<std::string> ids;
  for (const Device& d : devices) ids.push_back(d.id);
  return ids;
}

TEST(SimulatedScannerTest, CreatesMissingFilesAndKeepsExistingOnes) {
  TempDir t;
  t.WriteFile("dev/sim-1", "in use\n");
  SimulatedScanner s(t.Path("dev"), t.Path("sys"), "sim", 3);
  ASSERT_TRUE(s.Prepare().ok());
  EXPECT_TRUE(t.Exists("dev/sim-0"));
  EXPECT_TRUE(t.Exists("dev/sim-2"));
  EXPECT_FALSE(t.Exists("dev/sim-3"));
  std::ifstream in(t.Path("dev/sim-1"));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "in use");

  auto devices = s.Scan();
  ASSERT_TRUE(devices.ok());
  ASSERT_THAT(Ids(*devices), ElementsAre("sim-0", "sim-1", "sim-2"));
  const Device& d = (*devices)[2];
  EXPECT_TRUE(d.healthy);
  EXPECT_FALSE(d.numa_node.has_value()) << "no NUMA nodes in the fake sysfs";
  ASSERT_EQ(d.nodes.size(), 1u);
  EXPECT_EQ(d.nodes[0].host_path, t.Path("dev/sim-2"));
  EXPECT_EQ(d.nodes[0].container_path, "/dev/sim-2");
  EXPECT_EQ(d.nodes[0].kind, NodeKind::kFile);
  // The parent too: the directory removed and created again is seen at once.
  EXPECT_THAT(s.WatchDirs(), ElementsAre(t.Path("dev"), t.path()));
}

TEST(SimulatedScannerTest, MissingFileIsUnhealthy) {
  TempDir t;
  SimulatedScanner s(t.Path("dev"), t.Path("sys"), "sim", 2);
  t.MakeDirs("dev");
  ASSERT_TRUE(s.Prepare().ok());
  t.Remove("dev/sim-1");
  auto devices = s.Scan();
  ASSERT_TRUE(devices.ok());
  EXPECT_TRUE((*devices)[0].healthy);
  EXPECT_FALSE((*devices)[1].healthy);
}

TEST(SimulatedScannerTest, SpreadsOverNumaNodesOnlyWhenThereAreSeveral) {
  TempDir t;
  t.MakeDirs("dev");
  t.MakeDirs("sys/devices/system/node/node0");
  t.MakeDirs("sys/devices/system/node/node1");
  t.MakeDirs("sys/devices/system/node/possible_not_a_node");
  SimulatedScanner s(t.Path("dev"), t.Path("sys"), "sim", 3);
  ASSERT_TRUE(s.Prepare().ok());
  auto devices = s.Scan();
  ASSERT_TRUE(devices.ok());
  EXPECT_EQ((*devices)[0].numa_node, 0);
  EXPECT_EQ((*devices)[1].numa_node, 1);
  EXPECT_EQ((*devices)[2].numa_node, 0);

  TempDir one;
  one.MakeDirs("dev");
  one.MakeDirs("sys/devices/system/node/node0");
  SimulatedScanner single(one.Path("dev"), one.Path("sys"), "sim", 1);
  ASSERT_TRUE(single.Prepare().ok());
  EXPECT_FALSE((*single.Scan())[0].numa_node.has_value());
}

TEST(PathsScannerTest, MatchesGlobsUnderTheRoots) {
  TempDir t;
  t.WriteFile("dev/fpga1", "");
  t.WriteFile("dev/other", "");
  t.Symlink("/nonexistent", "dev/fpga2");  // dangling: no device
  t.WriteFile("dev/infiniband/uverbs0", "");
  t.WriteFile("sys/class/accel/accel0", "");
  PathsScanner s(t.Path("dev"), t.Path("sys"), {"/dev/fpga*", "/dev/infiniband/uverbs*", "/sys/class/accel/*"});
  auto devices = s.Scan();
  ASSERT_TRUE(devices.ok()) << devices.status().ToString();
  EXPECT_THAT(Ids(*devices), ::testing::UnorderedElementsAre("fpga1", "infiniband_uverbs0", "sys_class_accel_accel0"));
  for (const Device& d : *devices) {
    ASSERT_EQ(d.nodes.size(), 1u);
    EXPECT_EQ(d.nodes[0].kind, NodeKind::kFile);
    if (d.id == "fpga1") {
      EXPECT_EQ(d.nodes[0].container_path, "/dev/fpga1");
      EXPECT_EQ(d.nodes[0].host_path, t.Path("dev/fpga1"));
    } else if (d.id == "infiniband_uverbs0") {
      EXPECT_EQ(d.nodes[0].container_path, "/dev/infiniband/uverbs0");
    } else {
      EXPECT_EQ(d.nodes[0].container_path, "/sys/class/accel/accel0");
      EXPECT_EQ(d.nodes[0].host_path, t.Path("sys/class/accel/accel0"));
    }
  }
  EXPECT_THAT(s.WatchDirs(),
              ::testing::IsSupersetOf({t.Path("dev"), t.Path("dev/infiniband"), t.Path("sys/class/accel")}));
}

// The host's /dev/null, found with the real /dev as the root: a char device
// goes to the runtime as a device node, not a bind mount.
TEST(PathsScannerTest, TellsDevicesFromFiles) {
  TempDir t;
  PathsScanner s("/dev", t.Path("sys"), {"/dev/null"});
  auto devices = s.Scan();
  ASSERT_TRUE(devices.ok()) << devices.status().ToString();
  ASSERT_EQ(devices->size(), 1u);
  const Device& d = (*devices)[0];
  EXPECT_EQ(d.id, "null");
  ASSERT_EQ(d.nodes.size(), 1u);
  EXPECT_EQ(d.nodes[0].kind, NodeKind::kCharDevice);
  EXPECT_EQ(d.nodes[0].host_path, "/dev/null");
  EXPECT_EQ(d.nodes[0].container_path, "/dev/null");
}

// A symlink in /dev to a file elsewhere (here a fake /etc/shadow) would be
// handed to containers as a bind mount of that file: it is skipped, as are
// links out of the tree through "..", while links that stay inside /dev or
// /sys are followed.
TEST(PathsScannerTest, SkipsMatchesThatResolveOutsideTheRoots) {
  TempDir t;
  t.WriteFile("etc/shadow", "root:secret\n");
  t.Symlink(t.Path("etc/shadow"), "dev/fpga0");
  t.Symlink("../etc/shadow", "dev/fpga1");
  t.MakeDirs("dev/by-path");
  t.Symlink(t.Path("etc"), "dev/by-path/etc");  // a directory link: its entries are outside too
  t.WriteFile("dev/fpga2", "");
  t.Symlink("fpga2", "dev/fpga3");
  t.WriteFile("sys/devices/accel0", "");
  t.Symlink(t.Path("sys/devices/accel0"), "dev/fpga4");
  PathsScanner s(t.Path("dev"), t.Path("sys"), {"/dev/fpga*", "/dev/by-path/*/*"});
  for (int round = 0; round < 2; ++round) {  // refused every time, logged once
    auto devices = s.Scan();
    ASSERT_TRUE(devices.ok()) << devices.status().ToString();
    EXPECT_THAT(Ids(*devices), ElementsAre("fpga2", "fpga3", "fpga4"));
    for (const Device& d : *devices) {
      for (const DeviceNode& n : d.nodes) EXPECT_EQ(n.host_path.find("etc"), std::string::npos) << n.host_path;
    }
  }
}

TEST(PathsScannerTest, NothingIsInsideARootThatDoesNotExist) {
  TempDir t;
  t.WriteFile("real/fpga0", "");
  t.Symlink(t.Path("real"), "dev");  // the root itself may be a link
  PathsScanner linked(t.Path("dev"), t.Path("sys"), {"/dev/fpga*"});
  auto devices = linked.Scan();
  ASSERT_TRUE(devices.ok());
  EXPECT_THAT(Ids(*devices), ElementsAre("fpga0"));
  PathsScanner missing(t.Path("nodev"), t.Path("sys"), {"/dev/fpga*"});
  devices = missing.Scan();
  ASSERT_TRUE(devices.ok());
  EXPECT_TRUE(devices->empty());
}

TEST(PathsScannerTest, WatchesTheNearestExistingDirectoryOfAGlob) {
  TempDir t;
  t.MakeDirs("dev");
  PathsScanner s(t.Path("dev"), t.Path("sys"), {"/dev/infiniband/uverbs*"});
  auto devices = s.Scan();
  ASSERT_TRUE(devices.ok());
  EXPECT_TRUE(devices->empty());
  EXPECT_THAT(s.WatchDirs(), ElementsAre(t.Path("dev")));
}

TEST(PathsScannerTest, NumaNodeComesFromSysDev) {
  TempDir t;
  t.WriteFile("sys/dev/char/1:3/device/numa_node", "1\n");  // 1:3 is /dev/null
  PathsScanner s("/dev", t.Path("sys"), {"/dev/null"});
  auto devices = s.Scan();
  ASSERT_TRUE(devices.ok());
  ASSERT_EQ(devices->size(), 1u);
  EXPECT_EQ((*devices)[0].numa_node, 1);
}

// A fake PCI function as sysfs shows it.
void AddPci(const TempDir& t, const std::string& addr, const std::string& vendor, const std::string& device,
            const std::string& numa, const std::string& group = "") {
  std::string dir = "sys/devices/pci0000:00/" + addr;
  t.WriteFile(dir + "/vendor", "0x" + vendor + "\n");
  t.WriteFile(dir + "/device", "0x" + device + "\n");
  t.WriteFile(dir + "/numa_node", numa + "\n");
  if (!group.empty()) {
    t.MakeDirs("sys/kernel/iommu_groups/" + group);
    t.Symlink(t.Path("sys/kernel/iommu_groups/" + group), dir + "/iommu_group");
  }
  t.Symlink(t.Path(dir), "sys/bus/pci/devices/" + addr);
}

TEST(PciScannerTest, SelectsByVendorAndDeviceWithNumaAndVfio) {
  TempDir t;
  AddPci(t, "0000:3b:00.0", "10de", "1eb8", "0", "12");
  AddPci(t, "0000:af:00.0", "10DE", "1EB8", "1");
  AddPci(t, "0000:b0:00.0", "10de", "2330", "1");
  AddPci(t, "0000:00:1f.0", "8086", "1eb8", "-1");
  t.WriteFile("dev/vfio/12", "");
  t.Symlink("/dev/null", "dev/vfio/vfio");
  PciScanner s(t.Path("dev"), t.Path("sys"), "10de", {"1eb8"});
  auto devices = s.Scan();
  ASSERT_TRUE(devices.ok()) << devices.status().ToString();
  std::vector<Device> sorted = *devices;
  std::sort(sorted.begin(), sorted.end(), [](const Device& a, const Device& b) { return a.id < b.id; });
  ASSERT_THAT(Ids(sorted), ElementsAre("0000:3b:00.0", "0000:af:00.0"));
  EXPECT_EQ(sorted[0].numa_node, 0);
  ASSERT_EQ(sorted[0].nodes.size(), 2u);
  EXPECT_EQ(sorted[0].nodes[0].container_path, "/dev/vfio/12");
  EXPECT_EQ(sorted[0].nodes[1].container_path, "/dev/vfio/vfio");
  EXPECT_EQ(sorted[0].nodes[1].kind, NodeKind::kCharDevice);
  EXPECT_EQ(sorted[1].numa_node, 1);
  EXPECT_TRUE(sorted[1].nodes.empty()) << "no IOMMU group: passed by address only";

  PciScanner any(t.Path("dev"), t.Path("sys"), "10de", {});
  EXPECT_EQ(any.Scan()->size(), 3u);
  PciScanner intel(t.Path("dev"), t.Path("sys"), "8086", {});
  auto intel_devices = intel.Scan();
  ASSERT_EQ(intel_devices->size(), 1u);
  EXPECT_FALSE((*intel_devices)[0].numa_node.has_value()) << "numa_node -1 means none";
  EXPECT_THAT(s.WatchDirs(), ::testing::Contains(t.Path("sys/bus/pci/devices")));
}

TEST(PciScannerTest, MissingBusIsAnError) {
  TempDir t;
  PciScanner s(t.Path("dev"), t.Path("sys"), "10de", {});
  auto devices = s.Scan();
  ASSERT_FALSE(devices.ok());
  EXPECT_THAT(devices.status().message(), ::testing::HasSubstr("bus/pci/devices"));
}

}  // namespace
}  // namespace hf::agent
