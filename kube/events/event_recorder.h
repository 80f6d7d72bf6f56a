// EventRecorder: records events.k8s.io/v1 Events about objects, as
// client-go's tools/events recorder does. Eventf never blocks: it queues the
// occurrence and a background thread writes it. Repeats of the same event
// (same object, type, reason, action and note) within `series_window` update
// one Event's `series {count, lastObservedTime}` by merge patch instead of
// creating more, at most once per `series_update_interval` per event, so a
// hot loop costs a handful of writes. Events for cluster-scoped objects go to
// the "default" namespace, where kubectl describe looks for them.
//
// Thread-safety: Eventf, Shutdown and Dropped are safe from any thread.
#ifndef HF_KUBE_EVENTS_EVENT_RECORDER_H_
#define HF_KUBE_EVENTS_EVENT_RECORDER_H_

#include <atomic>
#include <functional>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "kube/clock.h"
#include "kube/rest/interfaces.h"
#include "kube/mutex.h"

namespace hf::kube {

// The object an Event is about (corev1.ObjectReference, the fields Events use).
struct ObjectReference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string namespace_;  // empty for cluster-scoped objects
  std::string uid;

  nlohmann::json ToJson() const;
  bool operator==(const ObjectReference&) const = default;
};

enum class EventType { kNormal, kWarning };

// What controllers depend on, so their tests can record into a fake.
class EventRecorder {
 public:
  virtual ~EventRecorder() = default;
  // `action` is what was done or failed ("Reconcile", "Label"); `note` is
  // for humans and is cut to 1024 bytes.
  virtual void Eventf(const ObjectReference& regarding, EventType type, std::string_view reason,
                      std::string_view action, std::string_view note) = 0;
};

struct EventRecorderOptions {
  std::string reporting_controller;  // e.g. "hashfoundry.com/devicepool-operator"
  std::string reporting_instance;    // e.g. the pod name
  Clock* clock = nullptr;            // nullptr = DefaultClock()
  // Distinct events waiting to be written; more are dropped and counted.
  size_t queue_capacity = 1000;
  Clock::Duration series_window = std::chrono::minutes(10);
  Clock::Duration series_update_interval = std::chrono::seconds(10);
  // Writes of one event tried before its pending occurrences are dropped.
  int max_attempts = 3;
  // Series remembered at most (client-go's event correlator keeps 4096):
  // past that the one seen longest ago is forgotten, so memory stays
  // bounded however many objects come and go within a series window.
  size_t max_series = 4096;
  // Called on the writer's thread after each round of writes (tests).
  std::function<void()> on_round;
};

class EventRecorderImpl final : public EventRecorder {
 public:
  EventRecorderImpl(Writer& client, EventRecorderOptions options);
  // Shutdown().
  ~EventRecorderImpl() override;

  void Eventf(const ObjectReference& regarding, EventType type, std::string_view reason, std::string_view action,
              std::string_view note) override;

  // Stops taking events, writes everything pending (ignoring the series
  // interval) and joins the writer. Idempotent.
  void Shutdown();

  // Occurrences never written: the queue was full, the recorder shut down,
  // or their writes kept failing.
  uint64_t Dropped() const { return dropped_.load(); }
  // Series remembered after the writer's last round (bounded by max_series,
  // and 0 once every series' window has ended).
  size_t Remembered() const { return remembered_.load(); }

 private:
  // One or more identical occurrences of an event.
  struct Occurrence {
    ObjectReference regarding;
    EventType type = EventType::kNormal;
    std::string reason, action, note;
    int64_t count = 0;
    std::chrono::system_clock::time_point first_wall, last_wall;  // written to the API
    Clock::TimePoint first_seen, last_seen;                        // for the series window
  };
  // The writer's view of one Event on the server.
  struct Series {
    Occurrence event;  // count is every occurrence in this series
    std::string name;  // empty until created
    int64_t written = 0;
    Clock::TimePoint next_write;
    int failures = 0;
  };

  using Batch = std::unordered_map<std::string, Occurrence>;  // by event key

  void Loop();
  void Merge(Batch& batch);
  // Writes every series with unwritten occurrences whose time has come (all
  // of them when `flush`), and forgets series that ended.
  void WriteDue(Clock::TimePoint now, bool flush);
  // On failure retries after the interval, up to max_attempts; `last_chance`
  // (shutting down) gives up at once.
  void Write(Series& s, Clock::TimePoint now, bool last_chance);
  Status Create(Series& s);
  // The earliest next_write among series with unwritten occurrences, or the
  // earliest end of a written series' window, when it is forgotten.
  Clock::TimePoint NextDue() const;
  // Forgets series seen longest ago while there are more than max_series.
  void Trim();
  // "<name>.<hex unix nanos>", unique even when the clock stands still.
  std::string NewName(const std::string& regarding_name);

  Writer& client_;
  const EventRecorderOptions options_;
  Clock& clock_;
  std::atomic<uint64_t> dropped_{0};
  std::atomic<size_t> remembered_{0};

  Mutex mu_;
  std::condition_variable wake_;
  Batch queue_ HF_GUARDED_BY(mu_);
  bool shutting_down_ HF_GUARDED_BY(mu_) = false;
  std::once_flag joined_;

  // The writer thread's own.
  std::unordered_map<std::string, Series> series_;
  int64_t last_name_nanos_ = 0;

  std::thread writer_;  // started by the constructor, joined by Shutdown
};

}  // namespace hf::kube

#endif  // HF_KUBE_EVENTS_EVENT_RECORDER_H_
