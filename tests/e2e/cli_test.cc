// kubectl-devicepool against the real control plane and simulated nodes:
// through kubectl's plugin mechanism, `status` in text and JSON beside what
// the Nodes say, and `rollout pause|resume|status`.
#include <filesystem>

#include "tests/e2e/e2e_fixture.h"

namespace hf::e2e {
namespace {

class CliTest : public E2eTest {
 protected:
  hf::testing::CommandResult Cli(const std::vector<std::string>& args) {
    std::vector<std::string> argv{HF_CLI_BIN, "--kubeconfig=" + cluster_.kubeconfig()};
    argv.insert(argv.end(), args.begin(), args.end());
    return hf::testing::Run(argv);
  }
};

TEST_F(CliTest, KubectlFindsThePluginByItsName) {
  const std::string dir = std::filesystem::path(HF_CLI_BIN).parent_path();
  auto k = hf::testing::Run({bin_ + "/kubectl", "devicepool", "version"},
                            {{"PATH", dir + ":" + std::string(std::getenv("PATH"))}});
  EXPECT_EQ(k.exit_code, 0) << k.output;
  EXPECT_NE(k.output.find("kubectl-devicepool "), std::string::npos) << k.output;
}

TEST_F(CliTest, StatusShowsEachNodesReportBesideTheNode) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  auto k = Cli({"status", kPool});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  EXPECT_EQ(k.output.find('\033'), std::string::npos) << "colour only on a terminal";
  EXPECT_NE(k.output.find(std::string("Pool ") + kPool), std::string::npos) << k.output;
  EXPECT_TRUE(std::regex_search(k.output, std::regex(R"(\n  Ready +True )"))) << k.output;
  for (const auto& n : nodes_) {
    // NODE READY AGENT REVISION REGISTERED CAPACITY ALLOCATABLE REPORTED HEALTHY ALLOCATED
    EXPECT_TRUE(std::regex_search(k.output, std::regex("\n  " + n.name + R"( +yes +\S+ +\S+ +yes +4 +4 +4 +4 +0\n)")))
        << n.name << "\n" << k.output;
    EXPECT_NE(k.output.find("  " + n.name + ":\n"), std::string::npos) << k.output;
  }
  EXPECT_NE(k.output.find("hashfoundry-device-3"), std::string::npos) << k.output;

  k = Cli({"status", kPool, "-o", "json"});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  Json doc = Json::parse(k.output, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << k.output;
  EXPECT_EQ(StringAt(doc, {"pool", "metadata", "name"}), kPool);
  ASSERT_EQ(doc["reports"].size(), nodes_.size()) << k.output;
  for (const auto& n : nodes_) {
    EXPECT_EQ(doc["nodes"][n.name]["allocatable"], 4) << k.output;
    EXPECT_EQ(doc["nodes"][n.name]["ready"], true) << k.output;
  }
  k = Cli({"status", "-o", "yaml"});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  EXPECT_NE(k.output.find("pools:"), std::string::npos) << k.output;

  k = Cli({"status", "no-such-pool"});
  EXPECT_EQ(k.exit_code, 1) << k.output;
  EXPECT_NE(k.output.find("not found"), std::string::npos) << k.output;
  k = Cli({"status", "-o", "xml"});
  EXPECT_EQ(k.exit_code, 2) << k.output;
}

TEST_F(CliTest, RolloutPauseResumeAndStatus) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  auto k = Cli({"rollout", "pause", kPool});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  EXPECT_EQ(At(Get(api::DevicePools(), "", kPool), {"spec", "rollout", "paused"}), true);
  k = Cli({"status", kPool});
  EXPECT_NE(k.output.find("Rollout (Managed, paused)"), std::string::npos) << k.output;
  k = Cli({"rollout", "resume", kPool});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  EXPECT_EQ(At(Get(api::DevicePools(), "", kPool), {"spec", "rollout", "paused"}), false);

  // A settled pool: status returns at once, with 0.
  k = Cli({"rollout", "status", kPool, "--timeout=60s"});
  EXPECT_EQ(k.exit_code, 0) << k.output;
  EXPECT_NE(k.output.find("rollout complete"), std::string::npos) << k.output;

  k = Cli({"rollout", "status", "no-such-pool"});
  EXPECT_EQ(k.exit_code, 1) << k.output;
  k = Cli({"rollout", "status", kPool, "--timeout=soon"});
  EXPECT_EQ(k.exit_code, 2) << k.output;
}

}  // namespace
}  // namespace hf::e2e
