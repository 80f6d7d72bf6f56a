// Manager: runs a binary's informers and controllers the way
// controller-runtime's manager does. Informers run on every replica so a
// standby is warm; leader-only runnables (controllers) start only while this
// replica holds the Lease. One HTTP server serves /metrics, /healthz and
// /readyz (ready once every informer has synced). Leadership lost while
// running ends Run with an error, so the process restarts clean rather than
// act on a lease it no longer holds.
//
// Thread-safety: configure (Add*, http(), registry()) before Run.
#ifndef HF_KUBE_MANAGER_MANAGER_H_
#define HF_KUBE_MANAGER_MANAGER_H_

#include <functional>
#include <memory>
#include <prometheus/registry.h>
#include <stop_token>
#include <string>
#include <vector>

#include "kube/cache/shared_informer.h"
#include "kube/http/server.h"
#include "kube/leaderelection/leader_elector.h"
#include "kube/metrics/metrics.h"
#include "kube/rest/client.h"

namespace hf::kube {

struct ManagerOptions {
  // Metrics and probes; empty for none (tests).
  std::string http_address = ":8080";
  bool leader_election = false;
  // namespace_, name and identity; callbacks are the manager's.
  LeaderElectionConfig leader_election_config;
};

class Manager {
 public:
  explicit Manager(ManagerOptions options);

  std::shared_ptr<prometheus::Registry> registry() { return registry_; }
  Metrics& metrics() { return metrics_; }
  HttpServer& http() { return http_; }

  // Runs on every replica; readiness waits for its sync.
  template <typename T>
  void AddInformer(SharedInformer<T>& informer) {
    AddCache([&informer](std::stop_token st) { informer.Run(st); }, &informer);
  }
  void AddCache(std::function<void(std::stop_token)> run, const Syncable* synced);
  // Runs only on the leader (every replica when leader election is off).
  void AddLeaderRunnable(std::string name, std::function<void(std::stop_token)> run);

  // Blocks until `stop`; an error if the HTTP server cannot start or
  // leadership was lost.
  Status Run(Client& client, std::stop_token stop);

 private:
  struct Named {
    std::string name;
    std::function<void(std::stop_token)> run;
  };
  // Starts the leader runnables and joins them once `stop` is requested.
  void RunLeaderRunnables(std::stop_token stop);

  ManagerOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  Metrics metrics_;
  HttpServer http_;
  std::vector<std::function<void(std::stop_token)>> caches_;
  std::vector<const Syncable*> synced_;
  std::vector<Named> leader_runnables_;
};

}  // namespace hf::kube

#endif  // HF_KUBE_MANAGER_MANAGER_H_
