// RestConfig: where the API server is and how to trust and authenticate to
// it, loaded from a kubeconfig file or from inside a pod. TLS is always
// verified; there is deliberately no "insecure" switch.
//
// Thread-safety: a loaded RestConfig is a value; its CredentialSource is
// shared and safe for concurrent use.
#ifndef HF_KUBE_REST_CONFIG_H_
#define HF_KUBE_REST_CONFIG_H_

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kube/rest/credentials.h"
#include "kube/status.h"

namespace hf::kube {

struct RestConfig {
  // https://host:port, no trailing slash.
  std::string host;
  // PEM bundle trusted for the server. Empty means the system store.
  std::string ca_pem;
  // Overrides the name checked against the server certificate.
  std::string tls_server_name;
  // Token and/or client certificate, possibly refreshed (token files, exec).
  std::shared_ptr<CredentialSource> credentials;

  // Client-side rate limit, like client-go's QPS/Burst.
  double qps = 50;
  int burst = 100;
  // Per-request timeout for everything but watches.
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  std::string user_agent = "hashfoundry-device-operator";
};

// Loads `path`, using `context` or the file's current-context.
StatusOr<RestConfig> LoadKubeconfig(const std::string& path, const std::string& context = "");
// Same, from text already read; relative file references resolve against `dir`.
StatusOr<RestConfig> ParseKubeconfig(const std::string& text, const std::string& dir,
                                     const std::string& context = "");

// Where in-cluster config comes from; the defaults are a pod's.
struct InClusterPaths {
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::string namespace_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
};
// Reads KUBERNETES_SERVICE_HOST/_PORT and the ServiceAccount files. The token
// is re-read when it rotates (bound tokens expire after about an hour).
StatusOr<RestConfig> InClusterConfig(const InClusterPaths& paths = {});

// The namespace a pod runs in, from the ServiceAccount mount, or "" outside one.
std::string InClusterNamespace(const InClusterPaths& paths = {});

// client-go's order: an explicit --kubeconfig, then $KUBECONFIG, then
// in-cluster, then ~/.kube/config.
StatusOr<RestConfig> LoadConfig(const std::string& kubeconfig_flag, const std::string& context = "");

}  // namespace hf::kube

#endif  // HF_KUBE_REST_CONFIG_H_
