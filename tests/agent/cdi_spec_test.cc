// The CDI spec's content and its atomic write.
#include "agent/cdi_spec.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/agent/testing/temp_dir.h"

namespace hf::agent {
namespace {

using testing::TempDir;

TEST(CdiSpecTest, OneCdiDevicePerAdvertisedIdWithItsEdits) {
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
  ASSERT_EQ(spec["devices"].size(), 6u);
  const nlohmann::json& vfio = spec["devices"][0];
  EXPECT_EQ(vfio["name"], "0000:3b:00.0::0");
  EXPECT_EQ(vfio["containerEdits"]["deviceNodes"],
            nlohmann::json::parse(R"([{"path":"/dev/vfio/12","hostPath":"/dev/vfio/12","permissions":"rw"},
                                      {"path":"/dev/vfio/vfio","hostPath":"/dev/vfio/vfio","permissions":"rw"}])"));
  EXPECT_FALSE(vfio["containerEdits"].contains("mounts"));
  const nlohmann::json& sim = spec["devices"][5];
  EXPECT_EQ(sim["name"], "sim-0::1");
  EXPECT_EQ(sim["containerEdits"]["mounts"], nlohmann::json::parse(R"(
      [{"hostPath": "/tmp/d/sim-0", "containerPath": "/dev/sim-0", "options": ["bind", "rw"]}])"));
  EXPECT_EQ(sim["containerEdits"]["env"],
            nlohmann::json::parse(R"(["HASHFOUNDRY_DEVICE_ID=sim-0::1","HASHFOUNDRY_DEVICE_PATH=/dev/sim-0"])"));
  const nlohmann::json& by_address = spec["devices"][2];
  EXPECT_EQ(by_address["containerEdits"]["env"], nlohmann::json::parse(R"(["HASHFOUNDRY_DEVICE_ID=0000:af:00.0::0"])"));
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
