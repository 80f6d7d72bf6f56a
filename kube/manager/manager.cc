#include "kube/manager/manager.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "kube/metrics/process_memory.h"
#include "kube/thread_name.h"

namespace hf::kube {
namespace {

// Blocks until `stop` is requested.
void WaitFor(std::stop_token stop) {
  Mutex mu;
  std::condition_variable_any cv;
  MutexLock lock(mu);
  cv.wait(lock.native(), stop, [] { return false; });
}

}  // namespace

Manager::Manager(ManagerOptions options)
    : options_(std::move(options)),
      registry_(std::make_shared<prometheus::Registry>()),
      metrics_(*registry_),
      http_(HttpServerOptions{options_.http_address.empty() ? ":0" : options_.http_address, 2}) {}

void Manager::AddCache(std::function<void(std::stop_token)> run, const Syncable* synced) {
  caches_.push_back(std::move(run));
  synced_.push_back(synced);
}

void Manager::AddLeaderRunnable(std::string name, std::function<void(std::stop_token)> run) {
  leader_runnables_.push_back({std::move(name), std::move(run)});
}

void Manager::RunLeaderRunnables(std::stop_token stop) {
  std::vector<std::jthread> threads;
  for (const auto& r : leader_runnables_) {
    spdlog::info("starting {}", r.name);
    threads.emplace_back([&r, stop] { r.run(stop); });
  }
  for (auto& t : threads) t.join();
}

Status Manager::Run(Client& client, std::stop_token stop) {
  std::stop_source all;
  std::stop_callback forward(stop, [&all] { all.request_stop(); });

  if (!options_.http_address.empty()) {
    Status st = http_.MountMetrics({registry_, std::make_shared<ProcessMemory>()});
    if (st.ok()) st = http_.AddHealthCheck("ping", [] { return Status::Ok(); });
    if (st.ok()) {
      st = http_.AddReadyCheck("informers", [this] {
        for (const Syncable* s : synced_) {
          if (!s->HasSynced()) return Status(Reason::kServiceUnavailable, "caches not synced yet");
        }
        return Status::Ok();
      });
    }
    if (st.ok()) st = http_.Start();
    if (!st.ok()) return st;
    spdlog::info("serving /metrics, /healthz and /readyz on port {}", http_.port());
  }

  std::vector<std::jthread> caches;
  for (auto& run : caches_) {
    caches.emplace_back([&run, token = all.get_token()] {
      SetThreadName("informer");
      run(token);
    });
  }

  std::atomic<bool> lost{false};
  Status result;
  if (options_.leader_election) {
    LeaderElectionConfig cfg = options_.leader_election_config;
    cfg.callbacks.on_started_leading = [this](std::stop_token lead) {
      spdlog::info("became leader of {}/{}", options_.leader_election_config.namespace_,
                   options_.leader_election_config.name);
      RunLeaderRunnables(lead);
    };
    cfg.callbacks.on_stopped_leading = [&all, &lost] {
      if (!all.stop_requested()) {
        lost.store(true);
        all.request_stop();
      }
    };
    cfg.callbacks.on_new_leader = [](const std::string& id) { spdlog::info("leader is now {}", id); };
    auto elector = LeaderElector::New(client, std::move(cfg));
    if (!elector.ok()) {
      all.request_stop();
      result = elector.status();
    } else {
      (*elector)->Run(all.get_token());
    }
  } else {
    std::jthread leader([this, token = all.get_token()] { RunLeaderRunnables(token); });
    WaitFor(all.get_token());
  }

  all.request_stop();
  for (auto& c : caches) c.join();
  http_.Stop();
  if (lost.load()) return Status(Reason::kInternalError, "leader election lost");
  return result;
}

}  // namespace hf::kube
