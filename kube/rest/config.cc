#include "kube/rest/config.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kube/base64.h"

namespace hf::kube {
namespace {

namespace fs = std::filesystem;

Status ConfigError(const std::string& msg) { return Status(Reason::kInvalid, msg); }

StatusOr<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ConfigError("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Resolve(const std::string& dir, const std::string& path) {
  if (path.empty() || fs::path(path).is_absolute() || dir.empty()) return path;
  return (fs::path(dir) / path).string();
}

// A field that may be given inline (base64 `<key>-data`) or as a file path.
StatusOr<std::string> InlineOrFile(const YAML::Node& node, const std::string& key,
                                   const std::string& dir, const std::string& what) {
  if (auto data = node[key + "-data"]; data && !data.as<std::string>().empty()) {
    auto decoded = Base64Decode(data.as<std::string>());
    if (!decoded) return ConfigError(what + ": " + key + "-data is not valid base64");
    return *decoded;
  }
  if (auto file = node[key]; file && !file.as<std::string>().empty()) {
    return ReadWhole(Resolve(dir, file.as<std::string>()));
  }
  return std::string();
}

const YAML::Node FindNamed(const YAML::Node& list, const std::string& name, const char* inner) {
  if (list && list.IsSequence()) {
    for (const auto& item : list) {
      if (item["name"] && item["name"].as<std::string>() == name) return item[inner];
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

}  // namespace

StatusOr<RestConfig> ParseKubeconfig(const std::string& text, const std::string& dir,
                                     const std::string& context) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return ConfigError(std::string("kubeconfig is not valid YAML: ") + e.what());
  }
  if (!root.IsMap()) return ConfigError("kubeconfig is not a YAML mapping");

  try {
    std::string ctx_name = context;
    if (ctx_name.empty() && root["current-context"]) ctx_name = root["current-context"].as<std::string>();
    if (ctx_name.empty()) return ConfigError("kubeconfig has no current-context and none was given");
    YAML::Node ctx = FindNamed(root["contexts"], ctx_name, "context");
    if (!ctx) return ConfigError("kubeconfig has no context named '" + ctx_name + "'");

    std::string cluster_name = ctx["cluster"] ? ctx["cluster"].as<std::string>() : "";
    YAML::Node cluster = FindNamed(root["clusters"], cluster_name, "cluster");
    if (!cluster) return ConfigError("context '" + ctx_name + "' names unknown cluster '" + cluster_name + "'");

    RestConfig cfg;
    cfg.host = cluster["server"] ? cluster["server"].as<std::string>() : "";
    if (cfg.host.rfind("https://", 0) != 0) {
      return ConfigError("cluster '" + cluster_name + "': server '" + cfg.host +
                         "' must be an https:// URL (TLS is always verified)");
    }
    while (cfg.host.size() > 8 && cfg.host.back() == '/') cfg.host.pop_back();
    if (cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>()) {
      return ConfigError("cluster '" + cluster_name +
                         "' sets insecure-skip-tls-verify; this client always verifies TLS");
    }
    auto ca = InlineOrFile(cluster, "certificate-authority", dir, "cluster '" + cluster_name + "'");
    if (!ca.ok()) return ca.status();
    cfg.ca_pem = *ca;
    if (cluster["tls-server-name"]) cfg.tls_server_name = cluster["tls-server-name"].as<std::string>();

    std::string user_name = ctx["user"] ? ctx["user"].as<std::string>() : "";
    YAML::Node user = FindNamed(root["users"], user_name, "user");
    if (!user) user = YAML::Node(YAML::NodeType::Map);  // anonymous

    const std::string who = "user '" + user_name + "'";
    if (auto exec = user["exec"]; exec) {
      ExecConfig ec;
      if (!exec["command"]) return ConfigError(who + ": exec has no command");
      ec.command = Resolve(exec["command"].as<std::string>().find('/') == std::string::npos ? "" : dir,
                           exec["command"].as<std::string>());
      if (exec["args"]) ec.args = exec["args"].as<std::vector<std::string>>();
      if (exec["env"] && exec["env"].IsSequence()) {
        for (const auto& e : exec["env"]) ec.env[e["name"].as<std::string>()] = e["value"].as<std::string>();
      }
      if (exec["apiVersion"]) ec.api_version = exec["apiVersion"].as<std::string>();
      cfg.credentials = std::make_shared<ExecCredentials>(std::move(ec), DefaultClock());
      return cfg;
    }
    if (auto token_file = user["tokenFile"]; token_file && !token_file.as<std::string>().empty()) {
      cfg.credentials = std::make_shared<TokenFileCredentials>(
          Resolve(dir, token_file.as<std::string>()), DefaultClock());
      return cfg;
    }
    Credentials creds;
    if (user["token"]) creds.token = user["token"].as<std::string>();
    auto cert = InlineOrFile(user, "client-certificate", dir, who);
    if (!cert.ok()) return cert.status();
    auto key = InlineOrFile(user, "client-key", dir, who);
    if (!key.ok()) return key.status();
    creds.cert_pem = *cert;
    creds.key_pem = *key;
    if (creds.cert_pem.empty() != creds.key_pem.empty()) {
      return ConfigError(who + " needs both a client certificate and a client key");
    }
    cfg.credentials = std::make_shared<StaticCredentials>(std::move(creds));
    return cfg;
  } catch (const YAML::Exception& e) {
    return ConfigError(std::string("kubeconfig has an unexpected shape: ") + e.what());
  }
}

StatusOr<RestConfig> LoadKubeconfig(const std::string& path, const std::string& context) {
  auto text = ReadWhole(path);
  if (!text.ok()) return text.status();
  return ParseKubeconfig(*text, fs::path(path).parent_path().string(), context);
}

StatusOr<RestConfig> InClusterConfig(const InClusterPaths& paths) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0' || *port == '\0') {
    return ConfigError("not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset");
  }
  auto ca = ReadWhole(paths.ca_file);
  if (!ca.ok()) return ca.status();
  RestConfig cfg;
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6 literal
  cfg.host = "https://" + h + ":" + port;
  cfg.ca_pem = *ca;
  auto creds = std::make_shared<TokenFileCredentials>(paths.token_file, DefaultClock());
  if (auto first = creds->Get(); !first.ok()) return first.status();
  cfg.credentials = std::move(creds);
  return cfg;
}

std::string InClusterNamespace(const InClusterPaths& paths) {
  auto ns = ReadWhole(paths.namespace_file);
  if (!ns.ok()) return "";
  std::string s = *ns;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

StatusOr<RestConfig> LoadConfig(const std::string& kubeconfig_flag, const std::string& context) {
  if (!kubeconfig_flag.empty()) return LoadKubeconfig(kubeconfig_flag, context);
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    std::string first(env);
    // Merging several files is not supported; the first one wins.
    first = first.substr(0, first.find(':'));
    return LoadKubeconfig(first, context);
  }
  if (std::getenv("KUBERNETES_SERVICE_HOST") != nullptr) return InClusterConfig();
  if (const char* home = std::getenv("HOME"); home != nullptr) {
    std::string path = std::string(home) + "/.kube/config";
    if (fs::exists(path)) return LoadKubeconfig(path, context);
  }
  return ConfigError("no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run in a pod");
}

}  // namespace hf::kube
