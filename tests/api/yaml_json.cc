#include "tests/api/yaml_json.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <regex>

namespace hf::api::testing {
namespace {

nlohmann::json Convert(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) out.push_back(Convert(item));
      return out;
    }
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& kv : node) out[kv.first.Scalar()] = Convert(kv.second);
      return out;
    }
    case YAML::NodeType::Scalar:
      break;
    default:
      return nullptr;
  }
  const std::string& s = node.Scalar();
  // yaml-cpp tags quoted and block scalars "!" and plain ones "?".
  if (node.Tag() == "!") return s;
  if (s == "true" || s == "True") return true;
  if (s == "false" || s == "False") return false;
  if (s.empty() || s == "~" || s == "null") return nullptr;
  if (std::regex_match(s, std::regex("[-+]?[0-9]+"))) return std::stoll(s);
  if (std::regex_match(s, std::regex(R"([-+]?([0-9]*\.[0-9]+|[0-9]+\.[0-9]*)([eE][-+]?[0-9]+)?)"))) {
    return std::stod(s);
  }
  return s;
}

}  // namespace

nlohmann::json YamlStringToJson(const std::string& yaml) { return Convert(YAML::Load(yaml)); }

nlohmann::json LoadYamlAsJson(const std::string& path) {
  try {
    return Convert(YAML::LoadFile(std::string(HF_SOURCE_DIR) + "/" + path));
  } catch (const YAML::Exception& e) {
    ADD_FAILURE() << path << ": " << e.what();
    return nullptr;
  }
}

}  // namespace hf::api::testing
