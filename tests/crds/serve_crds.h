// Installs crds/ on the shared local cluster and waits until the API server
// serves the DevicePool schema with its validation rules, for the tests that
// send pools to admission.
#ifndef HF_TESTS_CRDS_SERVE_CRDS_H_
#define HF_TESTS_CRDS_SERVE_CRDS_H_

#include <nlohmann/json.hpp>
#include <string>

#include "tests/testing/cluster.h"

namespace hf::api::testing {

// A small valid pool: simulated discovery, one matchLabels entry.
nlohmann::json ValidPool(const std::string& name);

// Applies crds/ (server-side) and waits until a valid pool is accepted and
// one with a 64-character name refused. Fails the current test otherwise.
void ServeCrds(hf::testing::LocalCluster& cluster);

}  // namespace hf::api::testing

#endif  // HF_TESTS_CRDS_SERVE_CRDS_H_
