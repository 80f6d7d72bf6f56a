// YAML to JSON for tests that read the sample manifests and the CRDs the way
// kubectl does (plain scalars typed as bool, null, integer or float; quoted
// ones stay strings).
//
// Thread-safety: pure functions.
#ifndef HF_TESTS_API_YAML_JSON_H_
#define HF_TESTS_API_YAML_JSON_H_

#include <nlohmann/json.hpp>
#include <string>

namespace hf::api::testing {

// The first document of the file at `path` relative to the source tree;
// adds a test failure and returns null if it cannot be read.
nlohmann::json LoadYamlAsJson(const std::string& path);

nlohmann::json YamlStringToJson(const std::string& yaml);

}  // namespace hf::api::testing

#endif  // HF_TESTS_API_YAML_JSON_H_
