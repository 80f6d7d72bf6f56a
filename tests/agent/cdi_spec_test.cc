// The CDI spec's content and its atomic write.
#include "agent/cdi_spec.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/agent/testing/temp_dir.h"

namespace hf::agent {
namespace {

using testing::TempDir;

TEST(CdiSpecTest, OneCdiDevicePerAdvertisedIdWithNodes) {
  Device file;
  file.id = "sim-0";
  file.nodes.push_back({"/tmp/d/sim-0", "/dev/sim-0", NodeKind::kFile});
  Device node;
  node.id = "0000:3b:00.0";
  node.nodes.push_back({"/dev/vfio/12", "/dev/vfio/12", NodeKind::kCharDevice});
  node.nodes.push_back({"/dev/vfio/vfio", "/dev/vfio/vfio", NodeKind::kCharDevice});
  Device bare;
  bare.id = "0000:af:00.0";
  DeviceSet set({node, bare, file}, 2);

  nlohmann::json spec = BuildCdiSpec(set, "hashfoundry.com/custom-device");
  EXPECT_EQ(spec["cdiVersion"], "0.6.0");
  EXPECT_EQ(spec["kind"], "hashfoundry.com/custom-device");
  // The bare device's two replicas have nothing to inject: CDI refuses a
  // device with empty edits, so they are not listed.
  std::vector<std::string> names;
  for (const auto& d : spec["devices"]) names.push_back(d["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"0000:3b:00.0::0", "0000:3b:00.0::1", "sim-0::0", "sim-0::1"}));
  const nlohmann::json& vfio = spec["devices"][0];
  EXPECT_EQ(vfio["containerEdits"]["deviceNodes"],
            nlohmann::json::parse(R"([{"path":"/dev/vfio/12","hostPath":"/dev/vfio/12","permissions":"rw"},
                                      {"path":"/dev/vfio/vfio","hostPath":"/dev/vfio/vfio","permissions":"rw"}])"));
  EXPECT_FALSE(vfio["containerEdits"].contains("mounts"));
  const nlohmann::json& sim = spec["devices"][3];
  EXPECT_EQ(sim["containerEdits"]["mounts"], nlohmann::json::parse(R"(
      [{"hostPath": "/tmp/d/sim-0", "containerPath": "/dev/sim-0", "options": ["bind", "rw"]}])"));
  EXPECT_FALSE(sim["containerEdits"].contains("deviceNodes"));
}

// A container with several CDI devices gets every device's edits; per-device
// env would give it one value per device for the same name. The env comes
// from the Allocate response alone.
TEST(CdiSpecTest, DevicesCarryNoEnv) {
  std::vector<Device> devices;
  for (int i = 0; i < 3; ++i) {
    Device d;
    d.id = "sim-" + std::to_string(i);
    d.nodes.push_back({"/h/sim-" + std::to_string(i), "/dev/sim-" + std::to_string(i), NodeKind::kFile});
    devices.push_back(std::move(d));
  }
  nlohmann::json spec = BuildCdiSpec(DeviceSet(std::move(devices), 1), "hashfoundry.com/custom-device");
  ASSERT_EQ(spec["devices"].size(), 3u);
  for (const auto& d : spec["devices"]) EXPECT_FALSE(d["containerEdits"].contains("env")) << d.dump();
}

TEST(CdiSpecTest, PathNamesTheKind) {
  EXPECT_EQ(CdiSpecPath("/var/run/cdi", "hashfoundry.com/custom-device"),
            "/var/run/cdi/hashfoundry.com-custom-device.json");
}

TEST(CdiSpecTest, WritesAtomicallyIntoANewDirectory) {
  TempDir t;
  std::string path = t.Path("cdi/spec.json");
  ASSERT_TRUE(WriteFileAtomically(path, "first").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "second").ok());
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  EXPECT_EQ(content.str(), "second");
  EXPECT_FALSE(t.Exists("cdi/spec.json.tmp")) << "no temporary file left behind";
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(t.Path("cdi")), std::filesystem::directory_iterator()),
            1);
}

TEST(CdiSpecTest, WriteFailsCleanly) {
  TempDir t;
  t.WriteFile("not-a-dir", "");
  kube::Status st = WriteFileAtomically(t.Path("not-a-dir/spec.json"), "x");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("not-a-dir"), std::string::npos);
}

}  // namespace
}  // namespace hf::agent
