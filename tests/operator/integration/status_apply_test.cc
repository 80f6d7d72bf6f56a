// Every status ComputeStatus can produce is one the API server accepts. The
// finding behind it: two problemNodes entries for one node broke the CRD's
// list-map, every status write failed, and the pool stayed Ready=True while
// its devices were unhealthy. Here each combination of per-node problems is
// applied to a real pool's status subresource, as the operator writes it.
#include <gtest/gtest.h>

#include "api/names.h"
#include "operator/desired.h"
#include "operator/pool_status.h"
#include "tests/testing/cluster.h"

namespace hf::controller {
namespace {

using hf::testing::LocalCluster;
using hf::testing::UniqueName;
using kube::Json;

TEST(StatusApplyTest, EveryCombinationOfNodeProblemsIsAccepted) {
  LocalCluster& cluster = LocalCluster::Shared();
  auto client = cluster.AdminClient();
  auto k = cluster.Kubectl({"apply", "--server-side", "-f", std::string(HF_SOURCE_DIR) + "/crds/"});
  ASSERT_EQ(k.exit_code, 0) << k.output;
  k = cluster.Kubectl({"wait", "--for=condition=Established", "crd/devicepools.hashfoundry.com", "--timeout=60s"});
  ASSERT_EQ(k.exit_code, 0) << k.output;

  const std::string name = UniqueName("status");
  Json manifest = {{"apiVersion", std::string(api::kApiVersion)},
                   {"kind", std::string(api::kDevicePoolKind)},
                   {"metadata", {{"name", name}}},
                   {"spec",
                    {{"resourceName", "hashfoundry.com/" + name},
                     {"discovery", {{"simulated", {{"count", 4}}}}}}}};
  auto created = client->Create(api::DevicePools(), "", manifest);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  auto decoded = api::DecodeDevicePool(*created);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  api::DevicePool pool = *decoded;

  const std::vector<std::string> node_ready = {"True", "False", "Unknown", ""};
  int applied = 0;
  for (const auto& ready : node_ready) {
    for (int agent = 0; agent < 4; ++agent) {        // none, ready, crash-looping, terminating
      for (int report = 0; report < 4; ++report) {   // none, good, unregistered+unhealthy, unhealthy
        Observed seen;
        for (int i = 0; i < 12; ++i) {
          std::string node = "node-" + std::to_string(i);
          ObservedNode n;
          n.ready = ready;
          n.advertised = i % 2 == 0;  // half the Nodes do not list the resource yet
          if (agent > 0) {
            n.agent = AgentPod{"agent-" + node, agent == 1, true, agent == 3, agent == 2 ? 9 : 0,
                               agent == 2 ? "CrashLoopBackOff" : "",
                               agent == 2 ? "exit code 2 (Error): " + std::string(3000, 'x') : ""};
          }
          if (report > 0) {
            api::DevicePoolNode r;
            r.spec = {name, node};
            r.status.counts = {4, report == 1 ? 4 : 1, 1};
            r.status.registered = report != 2;
            n.report = r;
          }
          seen.nodes[node] = n;
        }
        seen.selected = 13;
        seen.labelled = 12;
        seen.conflicts = {{"node-3", "older"}, {"node-12", "older"}};
        // The DaemonSet may over-count (a deleted Node's pod).
        seen.daemon_set = DaemonSetView{.generation = 1, .observed_generation = 1, .desired = 12, .updated = 14,
                                        .ready = 13, .available = 13};
        api::DevicePoolStatus st = ComputeStatus(pool, seen, std::chrono::system_clock::now());
        Json obj = {{"apiVersion", std::string(api::kApiVersion)},
                    {"kind", std::string(api::kDevicePoolKind)},
                    {"metadata", {{"name", name}}},
                    {"status", api::EncodeDevicePoolStatus(st)}};
        kube::ApplyOptions opts;
        opts.field_manager = kFieldManager;
        opts.force = true;
        opts.subresource = "status";
        auto r = client->Apply(api::DevicePools(), "", obj, opts);
        EXPECT_TRUE(r.ok()) << "ready=" << ready << " agent=" << agent << " report=" << report << ": "
                            << r.status().ToString();
        ++applied;
      }
    }
  }
  EXPECT_EQ(applied, 64);
  (void)client->Delete(api::DevicePools(), "", name);
}

}  // namespace
}  // namespace hf::controller
