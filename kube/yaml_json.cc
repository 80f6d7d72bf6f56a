#include "kube/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <regex>

namespace hf::kube {
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
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kFloat(R"([-+]?([0-9]*\.[0-9]+|[0-9]+\.[0-9]*)([eE][-+]?[0-9]+)?)");
  if (std::regex_match(s, kInt)) {
    try {
      return std::stoll(s);
    } catch (const std::out_of_range&) {
      return s;
    }
  }
  if (std::regex_match(s, kFloat)) return std::stod(s);
  return s;
}

}  // namespace

StatusOr<std::vector<nlohmann::json>> YamlDocumentsToJson(const std::string& yaml) {
  std::vector<nlohmann::json> out;
  try {
    for (const YAML::Node& doc : YAML::LoadAll(yaml)) {
      nlohmann::json j = Convert(doc);
      if (!j.is_null()) out.push_back(std::move(j));
    }
  } catch (const YAML::Exception& e) {
    return Status(Reason::kBadRequest, std::string("YAML: ") + e.what());
  }
  return out;
}

}  // namespace hf::kube
