#include "tests/crds/serve_crds.h"

#include <gtest/gtest.h>

#include <memory>

#include "api/names.h"
#include "kube/rest/client.h"

namespace hf::api::testing {

nlohmann::json ValidPool(const std::string& name) {
  nlohmann::json pool = nlohmann::json::parse(R"({
    "apiVersion": "hashfoundry.com/v1alpha1", "kind": "DevicePool",
    "spec": {"resourceName": "hashfoundry.com/custom-device",
             "nodeSelector": {"matchLabels": {"hashfoundry.com/custom-device": "enabled"}},
             "discovery": {"simulated": {"count": 4}}}})");
  pool["metadata"]["name"] = name;
  return pool;
}

void ServeCrds(hf::testing::LocalCluster& cluster) {
  hf::testing::CommandResult applied =
      cluster.Kubectl({"apply", "--server-side", "--force-conflicts", "-f", std::string(HF_SOURCE_DIR) + "/crds/"});
  ASSERT_EQ(applied.exit_code, 0) << applied.output;
  hf::testing::CommandResult established =
      cluster.Kubectl({"wait", "--for=condition=Established", "--timeout=60s", "crd/devicepools.hashfoundry.com",
                       "crd/devicepoolnodes.hashfoundry.com"});
  ASSERT_EQ(established.exit_code, 0) << established.output;
  // Established is set before every apiserver handler serves the new
  // schema; wait until a pool is accepted and one with a 64-character name
  // (a CEL rule) refused, and so is a DRA pool of 37 (the newest rule).
  std::unique_ptr<kube::Client> client = cluster.AdminClient();
  nlohmann::json long_dra = ValidPool(std::string(37, 'p'));
  long_dra["spec"]["allocationAPI"] = "DRA";
  ASSERT_TRUE(hf::testing::Eventually([&] {
    return client->Create(DevicePools(), "", ValidPool("probe"), {.dry_run = true}).ok() &&
           kube::IsInvalid(
               client->Create(DevicePools(), "", ValidPool(std::string(64, 'p')), {.dry_run = true}).status()) &&
           kube::IsInvalid(client->Create(DevicePools(), "", long_dra, {.dry_run = true}).status());
  })) << "the DevicePool CRD is not served with its validation rules";
}

}  // namespace hf::api::testing
