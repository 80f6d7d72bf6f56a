#include "tests/api/yaml_json.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "kube/yaml_json.h"

namespace hf::api::testing {

nlohmann::json YamlStringToJson(const std::string& yaml) {
  auto docs = kube::YamlDocumentsToJson(yaml);
  if (!docs.ok()) {
    ADD_FAILURE() << docs.status().ToString();
    return nullptr;
  }
  return docs->empty() ? nlohmann::json() : (*docs)[0];
}

nlohmann::json LoadYamlAsJson(const std::string& path) {
  std::ifstream in(std::string(HF_SOURCE_DIR) + "/" + path);
  if (!in) {
    ADD_FAILURE() << path << ": cannot read";
    return nullptr;
  }
  std::stringstream s;
  s << in.rdbuf();
  return YamlStringToJson(s.str());
}

}  // namespace hf::api::testing
