// ParseFlags: the operator's contract (every flag it writes parses to the
// intended Config) and the refusals, each naming the offending flag.
#include "agent/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/agent/testing/temp_dir.h"
#include "tests/agent/testing/run_agent.h"

namespace hf::agent {
namespace {

using ::testing::HasSubstr;

GetEnv Env(std::map<std::string, std::string> vars = {}) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ConfigTest, DefaultsMatchTheContract) {
  auto parsed = ParseFlags({"--pool=gpu", "--node-name=n1"}, Env());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const Config& c = parsed->config;
  EXPECT_EQ(parsed->action, Action::kRun);
  EXPECT_EQ(c.resource_name, "hashfoundry.com/custom-device");
  EXPECT_EQ(c.discovery, DiscoveryMode::kSimulated);
  EXPECT_EQ(c.simulated_count, 4);
  EXPECT_EQ(c.simulated_prefix, "hashfoundry-device");
  EXPECT_EQ(c.replicas, 1);
  EXPECT_EQ(c.allocation_policy, api::AllocationPolicy::kPacked);
  EXPECT_EQ(c.health_interval, std::chrono::seconds(30));
  EXPECT_FALSE(c.cdi);
  EXPECT_EQ(c.cdi_dir, "/var/run/cdi");
  EXPECT_EQ(c.kubelet_dir, "/var/lib/kubelet/device-plugins");
  EXPECT_EQ(c.pod_resources_socket, "/var/lib/kubelet/pod-resources/kubelet.sock");
  EXPECT_EQ(c.dev_root, "/dev");
  EXPECT_EQ(c.sys_root, "/sys");
  EXPECT_EQ(c.http_address, ":8080");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.log_format, "text");
  EXPECT_TRUE(c.report);
  EXPECT_EQ(c.revision, "");
  EXPECT_EQ(c.SocketPath(), "/var/lib/kubelet/device-plugins/hashfoundry.com_custom-device.sock");
}

TEST(ConfigTest, EveryContractFlagParses) {
  auto parsed = ParseFlags(
      {"--pool=gpu", "--pool-uid=1234-abcd", "--resource-name=example.com/fpga", "--node-name=n1",
       "--discovery=pci", "--simulated-count=8", "--simulated-prefix=sim", "--path-glob=/dev/fpga*",
       "--path-glob=/dev/infiniband/uverbs*", "--pci-vendor=10DE", "--pci-device=1eb8", "--pci-device=20b0",
       "--replicas=3", "--allocation-policy=balanced", "--health-interval=1m30s", "--cdi=true", "--cdi-dir=/cdi",
       "--kubelet-dir=/k/", "--pod-resources-socket=/pr.sock", "--dev-root=/host/dev", "--sys-root=/host/sys",
       "--http-address=127.0.0.1:9090", "--log-level=debug", "--log-format=json", "--kubeconfig=/kc",
       "--report=false", "--revision=5d41402abc4b2a76"},
      Env());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const Config& c = parsed->config;
  EXPECT_EQ(c.pool_uid, "1234-abcd");
  EXPECT_EQ(c.resource_name, "example.com/fpga");
  EXPECT_EQ(c.discovery, DiscoveryMode::kPci);
  EXPECT_EQ(c.simulated_count, 8);
  EXPECT_EQ(c.simulated_prefix, "sim");
  EXPECT_EQ(c.path_globs, (std::vector<std::string>{"/dev/fpga*", "/dev/infiniband/uverbs*"}));
  EXPECT_EQ(c.pci_vendor, "10de");
  EXPECT_EQ(c.pci_devices, (std::vector<std::string>{"1eb8", "20b0"}));
  EXPECT_EQ(c.replicas, 3);
  EXPECT_EQ(c.allocation_policy, api::AllocationPolicy::kBalanced);
  EXPECT_EQ(c.health_interval, std::chrono::seconds(90));
  EXPECT_TRUE(c.cdi);
  EXPECT_EQ(c.cdi_dir, "/cdi");
  EXPECT_EQ(c.SocketPath(), "/k/example.com_fpga.sock");
  EXPECT_EQ(c.pod_resources_socket, "/pr.sock");
  EXPECT_EQ(c.dev_root, "/host/dev");
  EXPECT_EQ(c.sys_root, "/host/sys");
  EXPECT_EQ(c.http_address, "127.0.0.1:9090");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.log_format, "json");
  EXPECT_EQ(c.kubeconfig, "/kc");
  EXPECT_FALSE(c.report);
  EXPECT_EQ(c.revision, "5d41402abc4b2a76");
}

TEST(ConfigTest, SeparateValuesAndBareBooleans) {
  auto parsed = ParseFlags({"--pool", "gpu", "--node-name", "n1", "--cdi", "--replicas", "2"}, Env());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->config.pool, "gpu");
  EXPECT_TRUE(parsed->config.cdi);
  EXPECT_EQ(parsed->config.replicas, 2);
}

TEST(ConfigTest, NodeNameFallsBackToTheEnvironment) {
  auto from_env = ParseFlags({"--pool=gpu"}, Env({{"NODE_NAME", "from-env"}}));
  ASSERT_TRUE(from_env.ok()) << from_env.status().ToString();
  EXPECT_EQ(from_env->config.node_name, "from-env");
  auto from_flag = ParseFlags({"--pool=gpu", "--node-name=from-flag"}, Env({{"NODE_NAME", "from-env"}}));
  ASSERT_TRUE(from_flag.ok());
  EXPECT_EQ(from_flag->config.node_name, "from-flag");
  // The DaemonSet passes --node-name=$(NODE_NAME), which is empty if the
  // variable is; the environment still decides then.
  auto empty_flag = ParseFlags({"--pool=gpu", "--node-name="}, Env({{"NODE_NAME", "from-env"}}));
  ASSERT_TRUE(empty_flag.ok());
  EXPECT_EQ(empty_flag->config.node_name, "from-env");
}

TEST(ConfigTest, HelpAndVersion) {
  for (const char* flag : {"--help", "-h"}) {
    auto help = ParseFlags({"--pool=x", flag}, Env());
    ASSERT_TRUE(help.ok()) << flag;
    EXPECT_EQ(help->action, Action::kHelp) << flag;
  }
  auto version = ParseFlags({"--version", "--bogus"}, Env());
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version->action, Action::kVersion);
  for (const char* flag :
       {"--pool=", "--pci-vendor=", "--allocation-policy=", "--cdi-dir=", "--report=", "--revision="}) {
    EXPECT_THAT(Usage(), HasSubstr(std::string(flag).substr(0, std::string(flag).size() - 1))) << flag;
  }
}

struct BadCase {
  std::vector<std::string> args;
  std::string want;  // in the message
};

class BadFlagsTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadFlagsTest, IsInvalidAndNamesTheFlag) {
  std::vector<std::string> args = {"--pool=gpu", "--node-name=n1"};
  args.insert(args.end(), GetParam().args.begin(), GetParam().args.end());
  auto parsed = ParseFlags(args, Env());
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().reason(), kube::Reason::kInvalid);
  EXPECT_THAT(parsed.status().message(), HasSubstr(GetParam().want));
  EXPECT_LT(parsed.status().message().size(), 400u);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadFlagsTest,
    ::testing::Values(
        BadCase{{"--bogus=1"}, "unknown flag --bogus"}, BadCase{{"-v"}, "unexpected argument"},
        BadCase{{"positional"}, "unexpected argument"}, BadCase{{"--"}, "unexpected argument"},
        BadCase{{"--simulated-count=abc"}, "--simulated-count"}, BadCase{{"--simulated-count=-1"}, "--simulated-count"},
        BadCase{{"--simulated-count=1025"}, "--simulated-count"},
        BadCase{{"--simulated-count=99999999999999999999"}, "--simulated-count"},
        BadCase{{"--simulated-prefix=Bad/Prefix"}, "--simulated-prefix"}, BadCase{{"--replicas=0"}, "--replicas"},
        BadCase{{"--replicas=65"}, "--replicas"}, BadCase{{"--replicas=2x"}, "--replicas"},
        BadCase{{"--discovery=usb"}, "--discovery"}, BadCase{{"--allocation-policy=random"}, "--allocation-policy"},
        BadCase{{"--health-interval=0s"}, "--health-interval"}, BadCase{{"--health-interval=30"}, "--health-interval"},
        BadCase{{"--health-interval=-5s"}, "--health-interval"}, BadCase{{"--pci-vendor=10de1"}, "--pci-vendor"},
        BadCase{{"--pci-vendor=0x10"}, "--pci-vendor"}, BadCase{{"--pci-device=xyzw"}, "--pci-device"},
        BadCase{{"--discovery=paths"}, "--path-glob"}, BadCase{{"--path-glob=dev/fpga*"}, "--path-glob"},
        BadCase{{"--path-glob=/dev/../etc/shadow"}, "--path-glob: \"/dev/../etc/shadow\" must be a normalised path"},
        BadCase{{"--path-glob=/etc/shadow"}, "--path-glob: \"/etc/shadow\" is not under /dev or /sys"},
        BadCase{{"--path-glob=/dev//fpga0"}, "--path-glob"}, BadCase{{"--path-glob=/dev/.[.]/x"}, "--path-glob"},
        BadCase{{"--path-glob=/dev/{a,..}/x"}, "--path-glob"}, BadCase{{"--health-interval=0ms"}, "--health-interval"},
        BadCase{{"--health-interval=2562048h"}, "--health-interval"}, BadCase{{"--pool=a.b"}, "--pool"},
        BadCase{{"--termination-log=relative"}, "--termination-log"},
        BadCase{{"--discovery=pci"}, "--pci-vendor"}, BadCase{{"--resource-name=kubernetes.io/x"}, "--resource-name"},
        BadCase{{"--resource-name=noslash"}, "--resource-name"},
        BadCase{{"--resource-name=requests.example.com/x"}, "--resource-name"},
        BadCase{{"--http-address=abc"}, "--http-address"}, BadCase{{"--http-address=:99999"}, "--http-address"},
        BadCase{{"--http-address=300.1.1.1:80"}, "--http-address"}, BadCase{{"--log-level=loud"}, "--log-level"},
        BadCase{{"--log-format=xml"}, "--log-format"}, BadCase{{"--cdi=maybe"}, "--cdi"},
        BadCase{{"--report=yes"}, "--report"}, BadCase{{"--pool="}, "--pool"}, BadCase{{"--pool=Bad_Pool"}, "--pool"},
        BadCase{{"--node-name"}, "--node-name: needs a value"}, BadCase{{"--kubelet-dir="}, "--kubelet-dir"},
        BadCase{{"--dev-root="}, "--dev-root"},
        BadCase{{"--kubelet-dir=/" + std::string(120, 'k')}, "--kubelet-dir"},
        BadCase{{"--" + std::string(100000, 'x')}, "unknown flag"},
        BadCase{{"--replicas=" + std::string(100000, '9')}, "--replicas"},
        BadCase{{"--revision=" + std::string(64, 'a')},
                "--revision: \"" + std::string(64, 'a') + "\" is not a revision"},
        BadCase{{"--revision=v1/2"}, "--revision: \"v1/2\" is not a revision: at most 63 characters of"},
        BadCase{{"--revision=a b"}, "--revision"}, BadCase{{"--revision=rév"}, "--revision"}));

TEST(ConfigTest, DraFlags) {
  auto parsed = ParseFlags({"--pool=gpu", "--node-name=n1", "--allocation-api=DRA",
                            "--driver-name=gpu.devicepool.hashfoundry.com", "--plugins-dir=/p",
                            "--plugins-registry-dir=/r"},
                           Env());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->config.allocation_api, AllocationApi::kDra);
  EXPECT_EQ(parsed->config.driver_name, "gpu.devicepool.hashfoundry.com");
  EXPECT_EQ(parsed->config.plugins_dir, "/p");
  EXPECT_EQ(parsed->config.plugins_registry_dir, "/r");
  auto plugin = ParseFlags({"--pool=gpu", "--node-name=n1", "--allocation-api=DevicePlugin"}, Env());
  ASSERT_TRUE(plugin.ok());
  EXPECT_EQ(plugin->config.allocation_api, AllocationApi::kDevicePlugin);

  struct Bad {
    std::vector<std::string> args;
    std::string flag;
  };
  for (const Bad& bad : std::vector<Bad>{
           {{"--allocation-api=dra"}, "--allocation-api"},
           {{"--allocation-api=DRA"}, "--driver-name"},
           {{"--allocation-api=DRA", "--driver-name=Not_A_Name"}, "--driver-name"},
           {{"--allocation-api=DRA", "--driver-name=" + std::string(64, 'a')}, "--driver-name"},
           {{"--allocation-api=DRA", "--driver-name=d.example.com", "--plugins-dir=rel"}, "--plugins-dir"},
           {{"--allocation-api=DRA", "--driver-name=d.example.com", "--plugins-registry-dir=/" + std::string(120, 'r')},
            "--plugins-registry-dir"},
       }) {
    std::vector<std::string> args = {"--pool=gpu", "--node-name=n1"};
    args.insert(args.end(), bad.args.begin(), bad.args.end());
    auto st = ParseFlags(args, Env());
    ASSERT_FALSE(st.ok()) << bad.args.back();
    EXPECT_NE(st.status().message().find(bad.flag), std::string::npos) << st.status().message();
  }
}

TEST(ConfigTest, RevisionIsOptional) {
  for (const std::string& rev : std::vector<std::string>{"", "5d41402abc4b2a76", "v2.0_rc-1", std::string(63, 'z')}) {
    auto parsed = ParseFlags({"--pool=gpu", "--node-name=n1", "--revision=" + rev}, Env());
    ASSERT_TRUE(parsed.ok()) << rev << ": " << parsed.status().ToString();
    EXPECT_EQ(parsed->config.revision, rev);
  }
}

TEST(ConfigTest, GlobsUnderDevAndSys) {
  auto parsed = ParseFlags({"--pool=gpu", "--node-name=n1", "--discovery=paths", "--path-glob=/dev/{fpga,accel}*",
                            "--path-glob=/sys/class/accel/accel[0-9]"},
                           Env());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->config.path_globs,
            (std::vector<std::string>{"/dev/{fpga,accel}*", "/sys/class/accel/accel[0-9]"}));
}

TEST(ConfigTest, CheckConfigValidatesLikeARun) {
  auto ok = ParseFlags({"--check-config", "--pool=gpu", "--node-name=n1"}, Env());
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->action, Action::kCheckConfig);
  EXPECT_EQ(ok->config.pool, "gpu");
  auto bad = ParseFlags({"--check-config", "--pool=gpu"}, Env());
  ASSERT_FALSE(bad.ok()) << "the same cross-flag rules as a run";
  EXPECT_THAT(bad.status().message(), HasSubstr("--node-name"));
}

TEST(ConfigTest, TerminationLog) {
  auto parsed = ParseFlags({"--pool=gpu", "--node-name=n1"}, Env());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->config.termination_log, "/dev/termination-log");
  auto set = ParseFlags({"--pool=gpu", "--node-name=n1", "--termination-log=/tmp/t"}, Env());
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->config.termination_log, "/tmp/t");

  TerminationLog none = FindTerminationLog({"--bogus"});
  EXPECT_EQ(none.path, "/dev/termination-log");
  EXPECT_FALSE(none.explicit_path);
  TerminationLog found = FindTerminationLog({"--replicas=0", "--termination-log", "/a", "--termination-log=/b"});
  EXPECT_EQ(found.path, "/b");
  EXPECT_TRUE(found.explicit_path);
  EXPECT_FALSE(FindTerminationLog({"--termination-log=rel"}).explicit_path);
  EXPECT_FALSE(FindTerminationLog({"--termination-log"}).explicit_path);
}

using testing::RunAgent;
using testing::RunResult;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(AgentBinaryConfigTest, CheckConfig) {
  RunResult ok = RunAgent("--check-config --pool=gpu --node-name=n1 --discovery=paths --path-glob=/dev/fpga*");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_EQ(ok.output, "config ok\n");
  RunResult bad = RunAgent("--check-config --pool=gpu --node-name=n1 --health-interval=0s");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("--health-interval: \"0s\" is not a positive duration"));
  // The operator passes --revision from the pod template's annotation.
  RunResult revision = RunAgent("--check-config --pool=gpu --node-name=n1 --revision=5d41402abc4b2a76");
  EXPECT_EQ(revision.exit_code, 0) << revision.output;
  RunResult bad_revision = RunAgent("--check-config --pool=gpu --node-name=n1 --revision=v1:2");
  EXPECT_EQ(bad_revision.exit_code, 2) << bad_revision.output;
  EXPECT_THAT(bad_revision.output, HasSubstr("--revision: \"v1:2\" is not a revision"));
}

TEST(AgentBinaryConfigTest, FatalErrorsGoToTheTerminationLog) {
  testing::TempDir t;
  const std::string log = t.Path("termination-log");
  RunResult bad = RunAgent("--pool=gpu --node-name=n1 --path-glob=/dev/../etc/shadow --termination-log=" + log);
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  std::string message = ReadFile(log);
  EXPECT_THAT(message, HasSubstr("--path-glob: \"/dev/../etc/shadow\" must be a normalised path"));
  EXPECT_EQ(message.find('\n'), message.size() - 1) << "one line: " << message;

  // A check only reports; the termination log is for a container that stops.
  t.Remove("termination-log");
  RunResult checked = RunAgent("--check-config --replicas=0 --termination-log=" + log);
  EXPECT_EQ(checked.exit_code, 2) << checked.output;
  EXPECT_FALSE(t.Exists("termination-log"));

  // Cannot start: the HTTP address (TEST-NET-1) is none of this host's.
  RunResult failed = RunAgent("--report=false --http-address=192.0.2.1:1 --kubelet-dir=" + t.Path("kubelet") +
                              " --dev-root=" + t.Path("dev") + " --termination-log=" + log);
  EXPECT_EQ(failed.exit_code, 1) << failed.output;
  EXPECT_THAT(ReadFile(log), HasSubstr("cannot run: ")) << failed.output;
}

TEST(ConfigTest, PoolAndNodeAreRequiredOnlyForTheReport) {
  auto no_pool = ParseFlags({"--node-name=n1"}, Env());
  ASSERT_FALSE(no_pool.ok());
  EXPECT_THAT(no_pool.status().message(), HasSubstr("--pool"));
  auto no_node = ParseFlags({"--pool=gpu"}, Env());
  ASSERT_FALSE(no_node.ok());
  EXPECT_THAT(no_node.status().message(), HasSubstr("--node-name"));
  EXPECT_TRUE(ParseFlags({"--report=false"}, Env()).ok());
  auto bad_pool = ParseFlags({"--report=false", "--pool=Bad"}, Env());
  ASSERT_FALSE(bad_pool.ok()) << "a pool name given is checked even without the report";
  EXPECT_THAT(bad_pool.status().message(), HasSubstr("--pool"));
}

}  // namespace
}  // namespace hf::agent
