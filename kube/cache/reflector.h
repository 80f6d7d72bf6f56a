// Reflector: keeps a sink in step with one resource on the API server, the
// way client-go's does: list (in pages), then watch from the list's
// resourceVersion with bookmarks. A watch that ends is re-opened from the last
// resourceVersion seen; an expired one (410 Gone, or an ERROR event) makes it
// list again. Failures back off exponentially on the injected clock.
//
// Thread-safety: Run() on one thread; the accessors from any.
#ifndef HF_KUBE_CACHE_REFLECTOR_H_
#define HF_KUBE_CACHE_REFLECTOR_H_

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <string>

#include "kube/clock.h"
#include "kube/rest/backoff.h"
#include "kube/rest/interfaces.h"
#include "kube/mutex.h"

namespace hf::kube {

struct ListWatchOptions {
  std::string ns;  // "" = all namespaces, or cluster-scoped
  std::string label_selector;
  std::string field_selector;
  bool metadata_only = false;  // PartialObjectMetadata lists and watches
  int64_t page_size = 500;
  int watch_timeout_seconds = 300;
  BackoffPolicy backoff;  // after a failed list or watch
};

// What the reflector feeds. A list arrives as Begin/Item.../End and replaces
// everything; Abort means the list failed part way and must be dropped.
class ReflectorSink {
 public:
  virtual ~ReflectorSink() = default;
  virtual void BeginList() = 0;
  virtual void ListItem(Json&& obj) = 0;
  virtual void EndList() = 0;
  virtual void AbortList() = 0;
  virtual void OnEvent(WatchEventType type, Json&& obj) = 0;
};

class Reflector {
 public:
  Reflector(Reader& client, GroupVersionResource gvr, ListWatchOptions opts, ReflectorSink& sink,
            Clock& clock);

  // Blocks until `stop` is requested.
  void Run(std::stop_token stop);

  std::string LastResourceVersion() const;
  // How many full lists ran (1 after the first sync).
  uint64_t Lists() const { return lists_.load(); }

 private:
  // Lists into the sink; on success sets resource_version_.
  Status List(std::stop_token stop);
  // Watches from resource_version_ until the stream ends; Gone means relist.
  Status WatchOnce(std::stop_token stop);
  // Waits `d` on the clock, or less if stop is requested.
  void Backoff(Clock::Duration d, std::stop_token stop);

  Reader& client_;
  const GroupVersionResource gvr_;
  const ListWatchOptions opts_;
  ReflectorSink& sink_;
  Clock& clock_;

  mutable Mutex mu_;
  std::condition_variable cv_;
  std::string resource_version_ HF_GUARDED_BY(mu_);
  std::atomic<uint64_t> lists_{0};
  uint64_t watch_events_ = 0;  // events in the current watch; Run's thread only
};

}  // namespace hf::kube

#endif  // HF_KUBE_CACHE_REFLECTOR_H_
