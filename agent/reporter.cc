#include "agent/reporter.h"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "api/names.h"
#include "kube/thread_name.h"

namespace hf::agent {

Reporter::Reporter(ReporterOptions options, ClientFactory client_factory, Observe observe, AgentMetrics& metrics,
                   kube::Clock& clock)
    : options_(std::move(options)),
      client_factory_(std::move(client_factory)),
      observe_(std::move(observe)),
      metrics_(metrics),
      clock_(clock) {}

Reporter::~Reporter() { Stop(); }

void Reporter::Start() {
  thread_ = std::thread([this] {
    kube::SetThreadName("reporter");
    Run();
  });
}

void Reporter::Stop() {
  if (thread_.joinable()) {
    {
      kube::MutexLock l(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // The watch started on the loop's thread, which has ended.
  if (watch_thread_.joinable()) {
    watch_thread_.request_stop();
    watch_thread_.join();
  }
}

void Reporter::Poke() {
  {
    kube::MutexLock l(mu_);
    dirty_ = true;
    urgent_ = true;
  }
  cv_.notify_all();
}

void Reporter::Rewrite() {
  {
    kube::MutexLock l(mu_);
    dirty_ = true;
    urgent_ = true;
    rewrite_ = true;
  }
  cv_.notify_all();
}

void Reporter::OnServerCopy(const api::DevicePoolNode& seen) {
  {
    kube::MutexLock l(mu_);
    // Before the first write the server may hold an earlier run's report;
    // the first Sync replaces it anyway. Conditions are not compared: their
    // times round-trip at second precision.
    if (!last_written_) return;
    const auto& w = *last_written_;
    const auto& s = seen.status;
    if (s.devices == w.devices && s.counts == w.counts && s.registered == w.registered &&
        s.agent_version == w.agent_version && s.agent_revision == w.agent_revision) {
      return;
    }
  }
  spdlog::warn("DevicePoolNode {} was changed by someone else; writing it again", seen.metadata.name);
  Rewrite();
}

void Reporter::StartWatch() {
  const std::string name = api::DevicePoolNodeName(options_.identity.pool, options_.identity.node);
  kube::ListWatchOptions lw;
  lw.field_selector = "metadata.name=" + name;
  watch_ = std::make_unique<kube::SharedInformer<api::DevicePoolNode>>(
      *client_, api::DevicePoolNodes(), lw,
      [](const nlohmann::json& obj) -> std::optional<api::DevicePoolNode> {
        auto n = api::DecodeDevicePoolNode(obj);
        if (!n.ok()) return std::nullopt;
        return std::move(*n);
      },
      clock_);
  watch_->AddEventHandler({[this](const api::DevicePoolNode& n) { OnServerCopy(n); },
                           [this](const api::DevicePoolNode&, const api::DevicePoolNode& n) { OnServerCopy(n); },
                           [this, name](const api::DevicePoolNode&) {
                             spdlog::warn("DevicePoolNode {} was deleted; writing it again", name);
                             Rewrite();
                           }});
  watch_thread_ = std::jthread([w = watch_.get()](std::stop_token stop) {
    kube::SetThreadName("report-watch");
    w->Run(stop);
  });
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
    if (options_.watch) StartWatch();
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
  kube::MutexLock l(mu_);
  const kube::BackoffPolicy& policy = options_.backoff;
  kube::Clock::TimePoint next_resync = clock_.Now();
  kube::Clock::TimePoint retry_at = clock_.Now();
  kube::Clock::TimePoint last_attempt = clock_.Now() - policy.initial;
  kube::Clock::Duration backoff = policy.initial;
  while (!stopping_) {
    if (urgent_) {
      // A new change goes out at once, even after a long backoff, but
      // attempts stay at least policy.initial apart.
      urgent_ = false;
      retry_at = std::min(retry_at, last_attempt + policy.initial);
      backoff = policy.initial;
    }
    kube::Clock::TimePoint now = clock_.Now();
    if (now < retry_at || (!dirty_ && now < next_resync)) {
      clock_.WaitUntil(l.native(), cv_, dirty_ ? retry_at : std::max(next_resync, retry_at));
      continue;
    }
    dirty_ = false;
    const bool rewrite = std::exchange(rewrite_, false);
    l.Unlock();
    if (rewrite) {
      object_applied_ = false;
      written_.reset();
    }
    kube::Status st = Sync();
    std::optional<api::DevicePoolNodeStatus> written = written_;
    l.Lock();
    now = clock_.Now();
    last_attempt = now;
    next_resync = now + options_.resync;
    if (st.ok()) {
      last_written_ = std::move(written);
      backoff = policy.initial;
      retry_at = now;
    } else {
      kube::RetryPlan plan = kube::PlanRetry(st, backoff, policy);
      spdlog::warn("writing DevicePoolNode {}: {}; retrying in {} ms",
                   api::DevicePoolNodeName(options_.identity.pool, options_.identity.node), st.ToString(),
                   std::chrono::duration_cast<std::chrono::milliseconds>(plan.wait).count());
      dirty_ = true;
      retry_at = now + plan.wait;
      backoff = plan.next_backoff;
    }
  }
}

}  // namespace hf::agent
