// Standard base64 (RFC 4648 with padding), as Kubernetes uses for Secret
// data and kubeconfig `*-data` fields.
//
// Thread-safety: pure functions.
#ifndef HF_KUBE_BASE64_H_
#define HF_KUBE_BASE64_H_

#include <optional>
#include <string>
#include <string_view>

namespace hf::kube {

std::string Base64Encode(std::string_view in);
// nullopt on characters outside the alphabet or bad padding; whitespace is skipped.
std::optional<std::string> Base64Decode(std::string_view in);

}  // namespace hf::kube

#endif  // HF_KUBE_BASE64_H_
