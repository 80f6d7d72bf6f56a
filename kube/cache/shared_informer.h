// SharedInformer<T>: a Reflector feeding a Store<T>, with event handlers and
// HasSynced (client-go's SharedIndexInformer). Objects are decoded into T as
// they arrive, so the cache holds only what controllers read.
//
// Handlers run on the informer's thread, one event at a time, after the
// store has been updated; they should only enqueue work.
//
// Thread-safety: AddEventHandler and AddIndex before Run; everything else
// from any thread.
#ifndef HF_KUBE_CACHE_SHARED_INFORMER_H_
#define HF_KUBE_CACHE_SHARED_INFORMER_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <spdlog/spdlog.h>
#include <stop_token>
#include <vector>

#include "kube/cache/reflector.h"
#include "kube/cache/store.h"
#include "kube/mutex.h"

namespace hf::kube {

// Anything that can report whether its cache is filled.
class Syncable {
 public:
  virtual ~Syncable() = default;
  virtual bool HasSynced() const = 0;
  // Blocks until synced or stop; returns HasSynced().
  virtual bool WaitForSync(std::stop_token stop) const = 0;
};

template <typename T>
struct EventHandler {
  std::function<void(const T&)> on_add;
  std::function<void(const T& old_obj, const T& new_obj)> on_update;
  std::function<void(const T&)> on_delete;
};

template <typename T>
class SharedInformer final : public Syncable, private ReflectorSink {
 public:
  using Ptr = typename Store<T>::Ptr;
  // Decodes one object; nullopt skips it (and logs). A decoder may move
  // from the object, but only when it returns a value: a cache that keeps
  // part of the tree then takes it without a copy.
  using Decoder = std::function<std::optional<T>(Json&&)>;

  SharedInformer(Reader& client, GroupVersionResource gvr, ListWatchOptions opts, Decoder decode,
                 Clock& clock = DefaultClock())
      : gvr_(gvr), decode_(std::move(decode)), reflector_(client, std::move(gvr), std::move(opts), *this, clock) {}

  void AddEventHandler(EventHandler<T> h) { handlers_.push_back(std::move(h)); }
  void AddIndex(const std::string& name, typename Store<T>::IndexFunc f) { store_.AddIndex(name, std::move(f)); }

  void Run(std::stop_token stop) {
    reflector_.Run(stop);
    MutexLock l(sync_mu_);
    sync_cv_.notify_all();
  }

  const Store<T>& store() const { return store_; }
  Ptr Get(const std::string& key) const { return store_.Get(key); }
  std::vector<Ptr> List() const { return store_.List(); }
  const Reflector& reflector() const { return reflector_; }

  bool HasSynced() const override { return synced_.load(); }
  bool WaitForSync(std::stop_token stop) const override {
    std::stop_callback wake(stop, [this] {
      MutexLock g(sync_mu_);
      sync_cv_.notify_all();
    });
    MutexLock l(sync_mu_);
    sync_cv_.wait(l.native(), [&] { return synced_.load() || stop.stop_requested(); });
    return synced_.load();
  }

 private:
  std::optional<Ptr> Decode(Json&& obj) {
    std::optional<T> t = decode_(std::move(obj));
    if (!t) {  // then obj is untouched (the Decoder's contract)
      spdlog::warn("informer {}: skipping undecodable object {}", gvr_.String(), KeyOf(obj));
      return std::nullopt;
    }
    return std::make_shared<const T>(std::move(*t));
  }

  void BeginList() override { pending_.clear(); }
  void ListItem(Json&& obj) override {
    if (auto p = Decode(std::move(obj))) pending_.push_back(std::move(*p));
  }
  void AbortList() override { pending_.clear(); }
  void EndList() override {
    std::vector<Ptr> now = pending_;
    pending_.clear();
    auto old = store_.Replace(now);
    // Tell handlers what the relist changed, as client-go's DeltaFIFO does.
    for (const auto& obj : now) {
      auto it = old.find(obj->metadata.Key());
      if (it == old.end()) {
        for (auto& h : handlers_) if (h.on_add) h.on_add(*obj);
      } else {
        if (it->second->metadata.resource_version != obj->metadata.resource_version) {
          for (auto& h : handlers_) if (h.on_update) h.on_update(*it->second, *obj);
        }
        old.erase(it);
      }
    }
    for (const auto& [key, gone] : old) {
      for (auto& h : handlers_) if (h.on_delete) h.on_delete(*gone);
    }
    if (!synced_.exchange(true)) {
      MutexLock l(sync_mu_);
      sync_cv_.notify_all();
    }
  }

  void OnEvent(WatchEventType type, Json&& obj) override {
    if (type == WatchEventType::kDeleted) {
      Ptr gone = store_.Remove(KeyOf(obj));
      if (!gone) {
        auto p = Decode(std::move(obj));
        if (!p) return;
        gone = *p;
      }
      for (auto& h : handlers_) if (h.on_delete) h.on_delete(*gone);
      return;
    }
    auto p = Decode(std::move(obj));
    if (!p) return;
    Ptr old = store_.Upsert(*p);
    for (auto& h : handlers_) {
      if (old) {
        if (h.on_update) h.on_update(*old, **p);
      } else if (h.on_add) {
        h.on_add(**p);
      }
    }
  }

  const GroupVersionResource gvr_;
  Decoder decode_;
  Store<T> store_;
  std::vector<EventHandler<T>> handlers_;
  std::vector<Ptr> pending_;  // only touched on the reflector's thread
  Reflector reflector_;
  std::atomic<bool> synced_{false};
  mutable Mutex sync_mu_;
  mutable std::condition_variable sync_cv_;
};

// Waits for every informer; false if stop came first.
inline bool WaitForCacheSync(std::stop_token stop, std::initializer_list<const Syncable*> informers) {
  for (const Syncable* s : informers) {
    if (!s->WaitForSync(stop)) return false;
  }
  return true;
}

}  // namespace hf::kube

#endif  // HF_KUBE_CACHE_SHARED_INFORMER_H_
