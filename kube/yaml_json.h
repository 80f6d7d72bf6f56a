// YAML to JSON the way kubectl reads manifests (sigs.k8s.io/yaml): plain
// scalars typed as bool, null, integer or float; quoted and block scalars
// stay strings; anchors and aliases resolved.
//
// Thread-safety: pure functions.
#ifndef HF_KUBE_YAML_JSON_H_
#define HF_KUBE_YAML_JSON_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kube/status.h"

namespace hf::kube {

// Every non-empty document of a YAML stream ("---" separated), in order.
StatusOr<std::vector<nlohmann::json>> YamlDocumentsToJson(const std::string& yaml);

}  // namespace hf::kube

#endif  // HF_KUBE_YAML_JSON_H_
