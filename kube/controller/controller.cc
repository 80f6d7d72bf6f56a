#include "kube/controller/controller.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "kube/thread_name.h"

namespace hf::kube {

Request Request::FromKey(const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

namespace {

Clock& ClockOr(Clock* c) { return c != nullptr ? *c : DefaultClock(); }

std::unique_ptr<RateLimiter> LimiterOr(std::unique_ptr<RateLimiter> l, Clock& clock) {
  return l ? std::move(l) : DefaultControllerRateLimiter(clock);
}

}  // namespace

Controller::Controller(ControllerOptions options, Reconciler& reconciler)
    : name_(options.name),
      workers_(std::max(1, options.max_concurrent_reconciles)),
      reconciler_(reconciler),
      clock_(ClockOr(options.clock)),
      metrics_(options.metrics),
      queue_(LimiterOr(std::move(options.rate_limiter), clock_), clock_, std::move(options.queue_metrics)) {}

Controller::~Controller() { queue_.ShutDown(); }

void Controller::Enqueue(const Request& r) { queue_.Add(r.Key()); }

void Controller::EnqueueAfter(const Request& r, Clock::Duration d) { queue_.AddAfter(r.Key(), d); }

bool Controller::ProcessNext(std::stop_token stop) {
  std::optional<std::string> key = queue_.Get();
  if (!key) return false;
  Request req = Request::FromKey(*key);
  auto start = clock_.Now();
  StatusOr<Result> res = Status(Reason::kInternalError, "reconcile did not run");
  try {
    res = reconciler_.Reconcile(req, stop);
  } catch (const std::exception& e) {
    // A reconciler bug must not take the whole operator down with it.
    res = Status(Reason::kInternalError, std::string("reconcile threw: ") + e.what());
  }
  auto elapsed = std::chrono::duration<double>(clock_.Now() - start);
  ReconcileResult outcome;
  if (!res.ok()) {
    if (IsConflict(res.status())) {
      spdlog::debug("{}: {}: conflict, requeueing: {}", name_, *key, res.status().ToString());
    } else {
      spdlog::error("{}: reconcile {} failed: {}", name_, *key, res.status().ToString());
    }
    queue_.AddRateLimited(*key);
    outcome = ReconcileResult::kError;
  } else if (res->requeue_after > Clock::Duration::zero()) {
    queue_.Forget(*key);
    queue_.AddAfter(*key, res->requeue_after);
    outcome = ReconcileResult::kRequeueAfter;
  } else if (res->requeue) {
    queue_.AddRateLimited(*key);
    outcome = ReconcileResult::kRequeue;
  } else {
    queue_.Forget(*key);
    outcome = ReconcileResult::kSuccess;
  }
  if (metrics_ != nullptr) metrics_->ObserveReconcile(name_, outcome, elapsed);
  queue_.Done(*key);
  return true;
}

void Controller::Start(std::stop_token stop) {
  std::stop_callback shutdown(stop, [this] { queue_.ShutDown(); });
  for (const Syncable* s : syncables_) {
    if (!s->WaitForSync(stop)) return;
  }
  spdlog::info("{}: caches synced, starting {} worker(s)", name_, workers_);
  std::vector<std::jthread> workers;
  for (int i = 0; i < workers_; ++i) {
    workers.emplace_back([this, stop] {
      SetThreadName("reconcile");
      while (ProcessNext(stop)) {
      }
    });
  }
  for (auto& w : workers) w.join();
  spdlog::info("{}: stopped", name_);
}

}  // namespace hf::kube
