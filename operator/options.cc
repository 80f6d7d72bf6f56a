#include "operator/options.h"

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <functional>
#include <map>

namespace hf::controller {
namespace {

kube::Status Bad(const std::string& flag, const std::string& why) {
  return kube::Status(kube::Reason::kInvalid, "--" + flag + ": " + why);
}

bool ParseInt(const std::string& s, int* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool ParseBool(const std::string& s, bool* out) {
  if (s == "true" || s == "1") return (*out = true, true);
  if (s == "false" || s == "0") return (*out = false, true);
  return false;
}

}  // namespace

std::string Usage() {
  return R"(usage: devicepool-operator [flags]
  --namespace=NS                 namespace of the agents' DaemonSets and friends (default hashfoundry-system)
  --agent-image=IMAGE            agent image when a pool names none
  --agent-cluster-role=NAME      ClusterRole bound to each pool's agent ServiceAccount
  --kubeconfig=PATH              default: $KUBECONFIG, then in-cluster
  --leader-elect=BOOL            elect a leader on a Lease (default false)
  --leader-election-id=NAME      the Lease's name (default hashfoundry-device-operator)
  --identity=ID                  leader identity (default $POD_NAME, then the host name)
  --http-address=[IP]:PORT       /metrics, /healthz, /readyz (default :8080)
  --max-concurrent-reconciles=N  pools reconciled at once (default 4)
  --label-concurrency=N          node label patches in flight (default 16)
  --qps=N --burst=N              client-side API rate limit (default 0: none; burst 100)
  --log-level=debug|info|warn|error  --log-format=text|json
  --version --help
)";
}

kube::StatusOr<Options> ParseOptions(const std::vector<std::string>& args) {
  Options o;
  if (const char* pod = std::getenv("POD_NAME"); pod != nullptr && *pod != '\0') o.identity = pod;
  auto str = [](std::string* dst) {
    return [dst](const std::string&, const std::string& v) -> kube::Status {
      *dst = v;
      return kube::Status::Ok();
    };
  };
  auto positive = [](int* dst) {
    return [dst](const std::string& f, const std::string& v) -> kube::Status {
      if (!ParseInt(v, dst) || *dst < 1) return Bad(f, "want a positive whole number, got '" + v + "'");
      return kube::Status::Ok();
    };
  };
  std::map<std::string, std::function<kube::Status(const std::string&, const std::string&)>> flags = {
      {"namespace", str(&o.config.namespace_)},
      {"agent-image", str(&o.config.agent_image)},
      {"agent-cluster-role", str(&o.config.agent_cluster_role)},
      {"kubeconfig", str(&o.kubeconfig)},
      {"leader-election-id", str(&o.leader_election_id)},
      {"identity", str(&o.identity)},
      {"http-address", str(&o.http_address)},
      {"log-level", str(&o.log_level)},
      {"log-format", str(&o.log_format)},
      {"max-concurrent-reconciles", positive(&o.max_concurrent_reconciles)},
      {"label-concurrency", positive(&o.label_concurrency)},
      {"burst", positive(&o.burst)},
      {"leader-elect",
       [&o](const std::string& f, const std::string& v) {
         return ParseBool(v, &o.leader_elect) ? kube::Status::Ok() : Bad(f, "want true or false, got '" + v + "'");
       }},
      {"qps",
       [&o](const std::string& f, const std::string& v) {
         char* end = nullptr;
         o.qps = std::strtod(v.c_str(), &end);
         if (v.empty() || *end != '\0' || !(o.qps >= 0) || o.qps > 1e6) {
           return Bad(f, "want a number from 0 (no client-side limit) to 1000000, got '" + v + "'");
         }
         return kube::Status::Ok();
       }},
  };
  for (const auto& a : args) {
    if (a == "--version") {
      o.version = true;
      continue;
    }
    if (a == "--help" || a == "-h") {
      o.help = true;
      continue;
    }
    if (a.rfind("--", 0) != 0) return kube::Status(kube::Reason::kInvalid, "unexpected argument '" + a + "'");
    auto eq = a.find('=');
    std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    auto it = flags.find(name);
    if (it == flags.end()) return kube::Status(kube::Reason::kInvalid, "unknown flag --" + name);
    std::string value = eq == std::string::npos ? (name == "leader-elect" ? "true" : "") : a.substr(eq + 1);
    if (eq == std::string::npos && name != "leader-elect") return Bad(name, "needs a value (--" + name + "=...)");
    if (auto st = it->second(name, value); !st.ok()) return st;
  }
  if (o.config.namespace_.empty()) return Bad("namespace", "must not be empty");
  if (o.config.agent_image.empty()) return Bad("agent-image", "must not be empty");
  if (o.identity.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    o.identity = host;
  }
  return o;
}

}  // namespace hf::controller
