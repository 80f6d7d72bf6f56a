#include "kube/cache/reflector.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "kube/rest/client.h"

namespace hf::kube {
namespace {

std::string ResourceVersionOf(const Json& obj) {
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) return "";
  return md->value("resourceVersion", "");
}

}  // namespace

Reflector::Reflector(Reader& client, GroupVersionResource gvr, ListWatchOptions opts,
                     ReflectorSink& sink, Clock& clock)
    : client_(client), gvr_(std::move(gvr)), opts_(std::move(opts)), sink_(sink), clock_(clock) {}

std::string Reflector::LastResourceVersion() const {
  MutexLock l(mu_);
  return resource_version_;
}

void Reflector::Backoff(Clock::Duration d, std::stop_token stop) {
  // Registered before taking mu_: with stop already requested the callback
  // runs at once and takes mu_ itself.
  std::stop_callback wake(stop, [this] {
    MutexLock l(mu_);
    cv_.notify_all();
  });
  MutexLock lock(mu_);
  auto deadline = clock_.Now() + d;
  while (!stop.stop_requested() && clock_.Now() < deadline) clock_.WaitUntil(lock.native(), cv_, deadline);
}

Status Reflector::List(std::stop_token stop) {
  ListOptions lo;
  lo.label_selector = opts_.label_selector;
  lo.field_selector = opts_.field_selector;
  lo.limit = opts_.page_size;
  lo.metadata_only = opts_.metadata_only;
  lo.strip_managed_fields = true;
  std::string rv;
  sink_.BeginList();
  Status st = client_.ListEach(
      gvr_, opts_.ns, lo, [&](Json&& item) { sink_.ListItem(std::move(item)); }, &rv);
  if (!st.ok() || stop.stop_requested()) {
    sink_.AbortList();
    return st;
  }
  // Recorded before the sink hears of it, so a handler that looks at the
  // reflector sees where it will resume.
  {
    MutexLock l(mu_);
    resource_version_ = rv;
  }
  lists_.fetch_add(1);
  sink_.EndList();
  return Status::Ok();
}

Status Reflector::WatchOnce(std::stop_token stop) {
  WatchOptions wo;
  wo.resource_version = LastResourceVersion();
  wo.label_selector = opts_.label_selector;
  wo.field_selector = opts_.field_selector;
  wo.metadata_only = opts_.metadata_only;
  wo.strip_managed_fields = true;
  wo.timeout_seconds = opts_.watch_timeout_seconds;
  Status event_error;
  watch_events_ = 0;
  Status st = client_.Watch(
      gvr_, opts_.ns, wo,
      [&](WatchEvent&& ev) {
        if (ev.type == WatchEventType::kError) {
          // The object is a metav1.Status; 410 means our resourceVersion is
          // too old. Any ERROR ends this watch and we relist.
          int code = ev.object.value("code", 0);
          event_error = StatusFromResponse(code, ev.object.dump());
          if (!IsGone(event_error)) event_error = Status(Reason::kGone, event_error.ToString(), code);
          return false;
        }
        ++watch_events_;
        std::string rv = ResourceVersionOf(ev.object);
        if (!rv.empty()) {
          MutexLock l(mu_);
          resource_version_ = rv;
        }
        if (ev.type != WatchEventType::kBookmark) sink_.OnEvent(ev.type, std::move(ev.object));
        return !stop.stop_requested();
      },
      stop);
  if (!event_error.ok()) return event_error;
  return st;
}

void Reflector::Run(std::stop_token stop) {
  Clock::Duration backoff = opts_.backoff.initial;
  bool need_list = true;
  while (!stop.stop_requested()) {
    auto started = clock_.Now();
    Status st = need_list ? List(stop) : WatchOnce(stop);
    if (stop.stop_requested()) break;
    if (st.ok() && !need_list && watch_events_ == 0 && clock_.Now() - started < std::chrono::seconds(1)) {
      // A watch the server closes at once, with nothing in it, must not
      // become a hot loop of re-watches.
      st = Status(Reason::kServiceUnavailable, "watch ended immediately");
    }
    if (st.ok()) {
      need_list = false;
      backoff = opts_.backoff.initial;
      continue;
    }
    if (IsGone(st)) {
      spdlog::info("reflector {}: resourceVersion expired, listing again ({})", gvr_.String(), st.ToString());
      need_list = true;
      continue;
    }
    RetryPlan plan = PlanRetry(st, backoff, opts_.backoff);
    spdlog::warn("reflector {}: {} failed: {}; retrying in {} ms", gvr_.String(), need_list ? "list" : "watch",
                 st.ToString(), std::chrono::duration_cast<std::chrono::milliseconds>(plan.wait).count());
    Backoff(plan.wait, stop);
    backoff = plan.next_backoff;
  }
}

}  // namespace hf::kube
