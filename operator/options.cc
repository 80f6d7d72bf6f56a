#include "operator/options.h"

#include <unistd.h>

#include <cstdlib>

#include "kube/flags/flags.h"
#include "kube/http/server.h"
#include "kube/log/logging.h"

namespace hf::controller {
namespace {

namespace flags = kube::flags;

flags::FlagSet<Options> Flags() {
  return {
      {"namespace", flags::In(&Options::config, flags::String(&OperatorConfig::namespace_))},
      {"agent-image", flags::In(&Options::config, flags::String(&OperatorConfig::agent_image))},
      {"agent-cluster-role", flags::In(&Options::config, flags::String(&OperatorConfig::agent_cluster_role))},
      {"kubeconfig", flags::String(&Options::kubeconfig)},
      {"leader-elect", flags::Bool(&Options::leader_elect)},
      {"leader-election-id", flags::String(&Options::leader_election_id)},
      {"identity", flags::String(&Options::identity)},
      {"http-address", flags::Checked(&Options::http_address, flags::Is(kube::IsBindAddress, "<ipv4>:<port> or :<port>"))},
      {"log-level", flags::Checked(&Options::log_level, flags::Is(kube::IsLogLevel, "one of debug, info, warn, error"))},
      {"log-format", flags::Checked(&Options::log_format, flags::Is(kube::IsLogFormat, "text or json"))},
      {"max-concurrent-reconciles", flags::Int(&Options::max_concurrent_reconciles, 1)},
      {"label-concurrency", flags::Int(&Options::label_concurrency, 1)},
      {"qps", flags::Double(&Options::qps, 0, 1e6)},  // 0: no client-side limit
      {"burst", flags::Int(&Options::burst, 1)},
  };
}

}  // namespace

std::string Usage() {
  return R"(usage: devicepool-operator [flags]
Flags are --name=value or --name value; a BOOL flag alone means true.
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
  --version --help -h
)";
}

kube::StatusOr<Options> ParseOptions(const std::vector<std::string>& args) {
  Options o;
  if (const char* pod = std::getenv("POD_NAME"); pod != nullptr && *pod != '\0') o.identity = pod;
  kube::StatusOr<flags::Outcome> outcome = Flags().Parse(args, o);
  if (!outcome.ok()) return outcome.status();
  o.help = *outcome == flags::Outcome::kHelp;
  o.version = *outcome == flags::Outcome::kVersion;
  if (o.help || o.version) return o;
  if (o.config.namespace_.empty()) return flags::Invalid("namespace", "must not be empty");
  if (o.config.agent_image.empty()) return flags::Invalid("agent-image", "must not be empty");
  if (o.identity.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    o.identity = host;
  }
  return o;
}

}  // namespace hf::controller
