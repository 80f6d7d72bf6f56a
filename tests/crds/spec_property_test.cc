// One source of truth for a valid DevicePool, checked by generation: a few
// hundred specs from a fixed seed, valid and subtly invalid, each sent to the
// real API server (server-side dry run). For every spec admission accepts,
// the codec decodes it, the operator's DaemonSet for it is accepted too, and
// the agent accepts the arguments that DaemonSet gives it
// (devicepool-agent --check-config). For every spec admission refuses, the
// codec refuses it as well. A disagreement fails with the spec.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "api/device_pool.h"
#include "api/names.h"
#include "kube/rest/client.h"
#include "operator/desired.h"
#include "tests/crds/serve_crds.h"
#include "tests/testing/cluster.h"

namespace hf::api {
namespace {

using hf::testing::LocalCluster;
using nlohmann::json;

constexpr uint32_t kSeed = 20261206;
constexpr int kSpecs = 400;
constexpr char kNodeName[] = "node-a";

// Specs from a fixed seed. Each field is left alone or set from a list of
// values near the edges of what is valid, or built from pieces that are
// mostly valid.
class SpecGenerator {
 public:
  explicit SpecGenerator(uint32_t seed) : rng_(seed) {}

  json Next(const std::string& name) {
    json pool = testing::ValidPool(name);
    json& spec = pool["spec"];
    if (Chance(5)) pool["metadata"]["name"] = Pick<std::string>({name + ".x", name + "-", "A" + name});
    if (Chance(20)) spec["health"]["interval"] = Duration();
    if (Chance(20)) spec["rollout"]["maxUnavailable"] = MaxUnavailable();
    if (Chance(10)) spec["rollout"]["canary"]["nodes"] = MaxUnavailable();
    if (Chance(10)) spec["rollout"]["canary"]["bakeTime"] = Duration();
    if (Chance(10)) spec["rollout"]["progressDeadline"] = Duration();
    if (Chance(5)) spec["rollout"]["strategy"] = Pick<std::string>({"Managed", "RollingUpdate", "managed", ""});
    if (Chance(20)) spec["nodeSelector"] = Selector();
    if (Chance(20)) spec["discovery"] = Discovery();
    if (Chance(15)) spec["sharing"]["replicas"] = Int(-1, 70);
    if (Chance(15)) spec["agent"]["image"] = Image();
    if (Chance(10)) spec["agent"]["tolerations"] = json::array({Toleration()});
    if (Chance(10)) {
      spec["agent"]["priorityClassName"] =
          Pick<std::string>({"system-node-critical", "high.prio", "High", "a_b", "-x"});
    }
    if (Chance(10)) spec["monitoring"]["serviceMonitor"]["interval"] = Duration();
    if (Chance(10)) spec["monitoring"]["prometheusRule"]["unhealthyFor"] = Duration();
    if (Chance(10)) spec["monitoring"]["serviceMonitor"]["labels"] = {{LabelKey(), LabelValue()}};
    // Last, so the specs above stay what they were for the seed.
    if (Chance(25)) spec["allocationAPI"] = Pick<std::string>({"DRA", "DRA", "DevicePlugin", "dra"});
    if (Chance(5)) pool["metadata"]["name"] = name + std::string(Int(20, 40), 'x');  // around DRA's 36
    return pool;
  }

 private:
  bool Chance(int percent) { return std::uniform_int_distribution<int>(0, 99)(rng_) < percent; }
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  template <typename T>
  T Pick(std::vector<T> options) {
    return options[static_cast<size_t>(Int(0, static_cast<int>(options.size()) - 1))];
  }

  // From `alphabet`, `min`..`max` characters.
  std::string Word(const std::string& alphabet, int min, int max) {
    std::string s;
    for (int n = Int(min, max); n > 0; --n) {
      s += alphabet[static_cast<size_t>(Int(0, static_cast<int>(alphabet.size()) - 1))];
    }
    return s;
  }

  json Duration() {
    return Pick<std::string>({"0s", "0ms", "1ms", "30s", "1h", "1h30m", "00s", "90m", "2562047h", "2562048h",
                              "1.5s", "5", "10x", "1m0s"});
  }

  json MaxUnavailable() {
    if (Chance(50)) return Pick<int>({-1, 0, 1, 2, 7, 1000});
    return Pick<std::string>({"0%", "1%", "9%", "50%", "100%", "101%", "05%", "1", "abc", "%", "-1%"});
  }

  // Mostly letters, with a little of everything a label may not have.
  std::string LabelName() {
    if (Chance(70)) return Word("abcxyz", 1, 6) + Word("abz09-_.", 0, 4) + Word("az09", 1, 2);
    return Word("aZ09-_./ !", 0, 8) + (Chance(10) ? std::string(64, 'n') : "");
  }
  std::string LabelKey() {
    if (Chance(60)) return LabelName();
    std::string prefix = Chance(70) ? Pick<std::string>({"example.com", "a.b-c", "hashfoundry.com"})
                                    : Pick<std::string>({"Example.com", "a..b", "-a", "a_b", ""});
    return prefix + "/" + LabelName();
  }
  std::string LabelValue() { return Chance(15) ? "" : LabelName(); }

  json Selector() {
    json s = json::object();
    if (Chance(60)) s["matchLabels"] = {{LabelKey(), LabelValue()}};
    if (Chance(60)) {
      json r = {{"key", LabelKey()}, {"operator", Pick<std::string>({"In", "NotIn", "Exists", "DoesNotExist"})}};
      int values = Int(0, 2);
      if (values > 0 || Chance(20)) {
        r["values"] = json::array();
        for (int i = 0; i < values; ++i) r["values"].push_back(LabelValue());
      }
      s["matchExpressions"] = json::array({r});
    }
    return s;
  }

  std::string Glob() {
    std::string g = Pick<std::string>({"/dev", "/dev", "/dev", "/sys", "/etc", "/proc", "", "/dev/"});
    for (int n = Int(1, 3); n > 0; --n) {
      g += "/" + Pick<std::string>({"fpga*", "accel[0-9]", "infiniband", "uverbs?", "{a,b}", "..", ".", "",
                                    ".[.]", "{a,..}", "x y", "dfl-port.*", "a\\b", "{a,}", "a}"});
    }
    return g;
  }

  json Discovery() {
    switch (Int(0, 2)) {
      case 0:
        return {{"simulated",
                 {{"count", Int(-1, 1030)}, {"prefix", Pick<std::string>({"dev", "hf-dev", "Dev", "a_b", "-a"})}}}};
      case 1: {
        json globs = json::array();
        for (int n = Int(1, 2); n > 0; --n) globs.push_back(Glob());
        return {{"paths", {{"globs", globs}}}};
      }
      default:
        return {{"pci", {{"vendor", Pick<std::string>({"10de", "8086", "10DE", "10dx", "0x10", ""})}}}};
    }
  }

  std::string Image() {
    std::string registry = Pick<std::string>({"", "", "registry.local/", "localhost:5000/", "Reg.io/", "[::1]:5000/",
                                              "reg:port/", "a_b.io/"});
    std::string name = Pick<std::string>({"agent", "hashfoundry/agent", "Agent", "a..b", "a__b", "a--b", "a-", ""});
    std::string tag = Pick<std::string>({"", ":v1", ":-bad", ":latest", " :v1", ":v1 ", ":1.0_rc-2"});
    std::string digest = Chance(80) ? "" : Pick<std::string>({"@sha256:" + std::string(64, 'a'), "@sha256:abc"});
    return registry + name + tag + digest;
  }

  json Toleration() {
    json t = json::object();
    if (Chance(80)) t["key"] = LabelKey();
    if (Chance(60)) t["operator"] = Pick<std::string>({"Exists", "Equal"});
    if (Chance(50)) t["value"] = LabelValue();
    if (Chance(40)) t["effect"] = Pick<std::string>({"NoSchedule", "NoExecute"});
    return t;
  }

  std::mt19937 rng_;
};

class SpecPropertyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { testing::ServeCrds(LocalCluster::Shared()); }

  // The agent's verdict on the DaemonSet's arguments, with the downward-API
  // variables the kubelet would substitute: the node's name and the pod
  // template's revision annotation.
  hf::testing::CommandResult CheckConfig(const json& daemon_set) {
    const json& tmpl = daemon_set["spec"]["template"];
    const std::string revision =
        tmpl["metadata"]["annotations"][controller::kTemplateHashAnnotation].get<std::string>();
    std::vector<std::string> argv = {HF_AGENT_BIN, "--check-config"};
    for (const json& arg : tmpl["spec"]["containers"][0]["args"]) {
      std::string a = arg.get<std::string>();
      Substitute(a, "$(NODE_NAME)", kNodeName);
      Substitute(a, "$(AGENT_REVISION)", revision);
      argv.push_back(a);
    }
    return hf::testing::Run(argv);
  }

  static void Substitute(std::string& s, const std::string& var, const std::string& value) {
    if (size_t at = s.find(var); at != std::string::npos) s.replace(at, var.size(), value);
  }

  LocalCluster& cluster_ = LocalCluster::Shared();
  std::unique_ptr<kube::Client> client_ = cluster_.AdminClient();
};

TEST_F(SpecPropertyTest, AdmissionCodecOperatorAndAgentAgree) {
  const kube::GroupVersionResource daemon_sets{"apps", "v1", "daemonsets", true};
  controller::OperatorConfig cfg;
  cfg.namespace_ = "default";
  SpecGenerator gen(kSeed);
  int accepted = 0;
  int refused = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kSpecs; ++i) {
    json pool = gen.Next("prop-" + std::to_string(i));
    SCOPED_TRACE("spec " + std::to_string(i) + ": " + pool.dump());
    kube::StatusOr<json> admitted = client_->Create(DevicePools(), "", pool, {.dry_run = true});
    kube::StatusOr<DevicePool> decoded = DecodeDevicePool(pool);
    if (!admitted.ok()) {
      ++refused;
      ASSERT_TRUE(kube::IsInvalid(admitted.status())) << admitted.status().ToString();
      EXPECT_FALSE(decoded.ok()) << "admission refuses, the codec accepts; the API server says: "
                                 << admitted.status().message();
      continue;
    }
    ++accepted;
    ASSERT_TRUE(decoded.ok()) << "admission accepts, the codec refuses: " << decoded.status().message();
    // What the operator reads: the stored object, defaults and uid filled in.
    kube::StatusOr<DevicePool> stored = DecodeDevicePool(*admitted);
    ASSERT_TRUE(stored.ok()) << stored.status().message();
    EXPECT_EQ(stored->spec, decoded->spec) << "the codec defaults differently from the API server";

    json daemon_set = controller::DesiredDaemonSet(*stored, cfg);
    kube::StatusOr<json> ds = client_->Create(daemon_sets, cfg.namespace_, daemon_set, {.dry_run = true});
    EXPECT_TRUE(ds.ok()) << "the API server refuses the agent DaemonSet: " << ds.status().message();

    hf::testing::CommandResult checked = CheckConfig(daemon_set);
    EXPECT_EQ(checked.exit_code, 0) << "the agent refuses its arguments: " << checked.output;
  }
  // Both kinds must be well represented for the agreement to mean much.
  EXPECT_GT(accepted, kSpecs / 5);
  EXPECT_GT(refused, kSpecs / 5);
  std::printf("%d specs accepted, %d refused, in %lld ms\n", accepted, refused,
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - start)
                                         .count()));
}

}  // namespace
}  // namespace hf::api
