#include "agent/reporter.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "api/names.h"

namespace hf::agent {

Reporter::Reporter(ReporterOptions options, ClientFactory client_factory, Observe observe, AgentMetrics& metrics,
                   kube::Clock& clock)
    : options_(std::move(options)),
      client_factory_(std::move(client_factory)),
      observe_(std::move(observe)),
      metrics_(metrics),
      clock_(clock) {}

Reporter::~Reporter() { Stop(); }

void Reporter::Start() { thread_ = std::thread([this] { Run(); }); }

void Reporter::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Reporter::Poke() {
  {
    std::lock_guard<std::mutex> l(mu_);
    dirty_ = true;
  }
  cv_.notify_all();
}

kube::Status Reporter::Sync() {
  Observation observed = observe_();
  api::DevicePoolNodeStatus status =
      BuildReportStatus(observed, written_ ? written_->conditions : std::vector<api::Condition>{}, clock_.WallNow());
  if (written_ && *written_ == status) return kube::Status::Ok();
  if (!client_) {
    kube::StatusOr<std::shared_ptr<kube::Client>> client = client_factory_();
    if (!client.ok()) return client.status();
    client_ = *client;
  }
  kube::ApplyOptions object_opts{kFieldManager, /*force=*/true};
  kube::ApplyOptions status_opts{kFieldManager, /*force=*/true, "status"};
  const nlohmann::json patch = ReportStatusPatch(options_.identity, status);
  // The object may have been deleted behind our back; then it is created
  // again and the status applied once more.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!object_applied_) {
      kube::StatusOr<kube::Json> applied = client_->Apply(api::DevicePoolNodes(), "", ReportObject(options_.identity),
                                                          object_opts);
      metrics_.ObserveReportWrite(applied.ok());
      if (!applied.ok()) return applied.status();
      object_applied_ = true;
    }
    kube::StatusOr<kube::Json> applied = client_->Apply(api::DevicePoolNodes(), "", patch, status_opts);
    metrics_.ObserveReportWrite(applied.ok());
    if (applied.ok()) {
      written_ = std::move(status);
      return kube::Status::Ok();
    }
    if (!kube::IsNotFound(applied.status())) return applied.status();
    object_applied_ = false;
  }
  return kube::Status(kube::Reason::kNotFound, "DevicePoolNode disappeared while being written");
}

void Reporter::Run() {
  std::unique_lock<std::mutex> l(mu_);
  kube::Clock::TimePoint next_resync = clock_.Now();
  kube::Clock::TimePoint retry_at = clock_.Now();
  std::chrono::milliseconds backoff = options_.initial_backoff;
  while (!stopping_) {
    kube::Clock::TimePoint now = clock_.Now();
    if (now < retry_at || (!dirty_ && now < next_resync)) {
      clock_.WaitUntil(l, cv_, dirty_ ? retry_at : std::max(next_resync, retry_at));
      continue;
    }
    dirty_ = false;
    l.unlock();
    kube::Status st = Sync();
    l.lock();
    now = clock_.Now();
    next_resync = now + options_.resync;
    if (st.ok()) {
      backoff = options_.initial_backoff;
      retry_at = now;
    } else {
      spdlog::warn("writing DevicePoolNode {}: {}; retrying in {} ms",
                   api::DevicePoolNodeName(options_.identity.pool, options_.identity.node), st.ToString(),
                   backoff.count());
      dirty_ = true;
      retry_at = now + backoff;
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }
}

}  // namespace hf::agent
