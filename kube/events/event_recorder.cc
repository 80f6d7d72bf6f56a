#include "kube/events/event_recorder.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "kube/rest/credentials.h"
#include "kube/thread_name.h"

namespace hf::kube {
namespace {

constexpr size_t kMaxNoteBytes = 1024;

// Cuts at a UTF-8 character boundary, so the API server gets valid text.
std::string_view TruncateUtf8(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// Length-prefixed, so no field's content can make two keys collide.
void AppendKeyField(std::string& key, std::string_view field) {
  key += std::to_string(field.size());
  key += ':';
  key += field;
}

const char* TypeName(EventType type) { return type == EventType::kWarning ? "Warning" : "Normal"; }

std::string EventNamespace(const ObjectReference& regarding) {
  return regarding.namespace_.empty() ? "default" : regarding.namespace_;
}

}  // namespace

nlohmann::json ObjectReference::ToJson() const {
  nlohmann::json ref = {{"apiVersion", api_version}, {"kind", kind}, {"name", name}};
  if (!namespace_.empty()) ref["namespace"] = namespace_;
  if (!uid.empty()) ref["uid"] = uid;
  return ref;
}

EventRecorderImpl::EventRecorderImpl(Writer& client, EventRecorderOptions options)
    : client_(client),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : DefaultClock()) {
  writer_ = std::thread([this] {
    SetThreadName("events");
    Loop();
  });
}

EventRecorderImpl::~EventRecorderImpl() { Shutdown(); }

void EventRecorderImpl::Eventf(const ObjectReference& regarding, EventType type, std::string_view reason,
                               std::string_view action, std::string_view note) {
  note = TruncateUtf8(note, kMaxNoteBytes);
  std::string key;
  for (std::string_view f : {std::string_view(regarding.api_version), std::string_view(regarding.kind),
                             std::string_view(regarding.namespace_), std::string_view(regarding.name),
                             std::string_view(regarding.uid), std::string_view(TypeName(type)), reason, action,
                             note}) {
    AppendKeyField(key, f);
  }
  const auto wall = clock_.WallNow();
  const Clock::TimePoint now = clock_.Now();

  MutexLock l(mu_);
  if (shutting_down_) {
    ++dropped_;
    return;
  }
  auto it = queue_.find(key);
  if (it == queue_.end()) {
    if (queue_.size() >= options_.queue_capacity) {
      ++dropped_;
      return;
    }
    Occurrence o{regarding, type, std::string(reason), std::string(action), std::string(note),
                 /*count=*/0, wall, wall, now, now};
    it = queue_.emplace(std::move(key), std::move(o)).first;
    // Repeats of a queued event ride along with it; only new ones wake.
    wake_.notify_one();
  }
  ++it->second.count;
  it->second.last_wall = wall;
  it->second.last_seen = now;
}

void EventRecorderImpl::Shutdown() {
  {
    MutexLock l(mu_);
    shutting_down_ = true;
    wake_.notify_all();
  }
  std::call_once(joined_, [this] { writer_.join(); });
}

void EventRecorderImpl::Loop() {
  MutexLock lock(mu_);
  for (;;) {
    const Clock::TimePoint due = NextDue();
    while (queue_.empty() && !shutting_down_ && clock_.Now() < due) clock_.WaitUntil(lock.native(), wake_, due);
    Batch batch;
    batch.swap(queue_);
    const bool flush = shutting_down_;
    // Read with the batch, so every occurrence recorded before this time is
    // in it (or was in an earlier one) before anything is written as of it.
    const Clock::TimePoint now = clock_.Now();
    lock.Unlock();
    Merge(batch);
    WriteDue(now, flush);
    remembered_ = series_.size();
    if (options_.on_round) options_.on_round();
    if (flush) return;  // Eventf adds nothing once shutting down
    lock.Lock();
  }
}

void EventRecorderImpl::Merge(Batch& batch) {
  for (auto& [key, o] : batch) {
    auto [it, inserted] = series_.try_emplace(key);
    Series& s = it->second;
    if (inserted || o.first_seen - s.event.last_seen > options_.series_window) {
      if (!inserted) dropped_ += s.event.count - s.written;  // the old series' unwritten rest
      s = Series{std::move(o)};
      continue;
    }
    s.event.count += o.count;
    s.event.last_wall = o.last_wall;
    s.event.last_seen = o.last_seen;
  }
  Trim();
}

void EventRecorderImpl::WriteDue(Clock::TimePoint now, bool flush) {
  for (auto it = series_.begin(); it != series_.end();) {
    Series& s = it->second;
    if (s.event.count > s.written && (flush || now >= s.next_write)) Write(s, now, flush);
    const bool ended = s.event.count == s.written && now - s.event.last_seen > options_.series_window;
    it = ended ? series_.erase(it) : std::next(it);
  }
}

void EventRecorderImpl::Write(Series& s, Clock::TimePoint now, bool last_chance) {
  Status st;
  if (s.name.empty()) {
    st = Create(s);
  } else {
    const Json patch = {{"series",
                         {{"count", s.event.count},
                          {"lastObservedTime", FormatRfc3339(s.event.last_wall, /*micro=*/true)}}}};
    st = client_.Patch(resources::Events(), EventNamespace(s.event.regarding), s.name, PatchType::kMerge,
                       patch.dump())
             .status();
    // Events expire (an hour by default) while a series may go on.
    if (IsNotFound(st)) {
      s.name.clear();
      st = Create(s);
    }
  }
  s.next_write = now + options_.series_update_interval;
  if (st.ok()) {
    s.written = s.event.count;
    s.failures = 0;
    return;
  }
  if (++s.failures < options_.max_attempts && !last_chance) return;
  spdlog::warn("events: dropping {} occurrence(s) of {} {} on {} {}: {}", s.event.count - s.written,
               TypeName(s.event.type), s.event.reason, s.event.regarding.kind, s.event.regarding.name,
               st.ToString());
  dropped_ += s.event.count - s.written;
  s.written = s.event.count;
  s.failures = 0;
}

Status EventRecorderImpl::Create(Series& s) {
  const Occurrence& e = s.event;
  const std::string ns = EventNamespace(e.regarding);
  std::string name = NewName(e.regarding.name);
  Json event = {{"apiVersion", "events.k8s.io/v1"},
                {"kind", "Event"},
                {"metadata", {{"name", name}, {"namespace", ns}}},
                {"eventTime", FormatRfc3339(e.first_wall, /*micro=*/true)},
                {"regarding", e.regarding.ToJson()},
                {"type", TypeName(e.type)},
                {"reason", e.reason},
                {"action", e.action},
                {"note", e.note},
                {"reportingController", options_.reporting_controller},
                {"reportingInstance", options_.reporting_instance}};
  // The API wants a series only from the second occurrence on.
  if (e.count >= 2) {
    event["series"] = {{"count", e.count}, {"lastObservedTime", FormatRfc3339(e.last_wall, /*micro=*/true)}};
  }
  auto created = client_.Create(resources::Events(), ns, event);
  if (created.ok()) s.name = std::move(name);
  return created.status();
}

Clock::TimePoint EventRecorderImpl::NextDue() const {
  Clock::TimePoint due = Clock::TimePoint::max();
  for (const auto& [key, s] : series_) {
    // Without the window's end a quiet recorder would keep ended series
    // until the next event comes.
    due = std::min(due, s.event.count > s.written ? s.next_write
                                                  : s.event.last_seen + options_.series_window + std::chrono::seconds(1));
  }
  return due;
}

void EventRecorderImpl::Trim() {
  while (series_.size() > options_.max_series) {
    // Written series go first, those seen longest ago before others; a
    // series with occurrences still to write only when nothing else is left.
    auto rank = [](const Series& s) { return std::make_pair(s.event.count > s.written, s.event.last_seen); };
    auto victim = series_.begin();
    for (auto it = series_.begin(); it != series_.end(); ++it) {
      if (rank(it->second) < rank(victim->second)) victim = it;
    }
    dropped_ += victim->second.event.count - victim->second.written;
    series_.erase(victim);
  }
}

std::string EventRecorderImpl::NewName(const std::string& regarding_name) {
  const int64_t nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.WallNow().time_since_epoch()).count();
  last_name_nanos_ = std::max(nanos, last_name_nanos_ + 1);
  char hex[24];
  std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(last_name_nanos_));
  return regarding_name + "." + hex;
}

}  // namespace hf::kube
