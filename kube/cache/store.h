// Store<T>: the thread-safe cache an informer fills, keyed by
// "namespace/name", with optional indexes (client-go's ThreadSafeStore and
// Indexer). Objects are immutable once stored and shared by pointer, so a
// reader keeps what it got even if the cache moves on.
//
// T must have a member `ObjectMeta metadata`.
//
// Thread-safety: every method is safe for concurrent use.
#ifndef HF_KUBE_CACHE_STORE_H_
#define HF_KUBE_CACHE_STORE_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "kube/meta/object_meta.h"
#include "kube/mutex.h"

namespace hf::kube {

template <typename T>
class Store {
 public:
  using Ptr = std::shared_ptr<const T>;
  using IndexFunc = std::function<std::vector<std::string>(const T&)>;

  // Indexes must be added before the store is filled.
  void AddIndex(const std::string& name, IndexFunc func) {
    WriterLock l(mu_);
    index_funcs_[name] = std::move(func);
    indexes_[name];
  }

  // Inserts or replaces; returns the previous object, if any.
  Ptr Upsert(Ptr obj) {
    WriterLock l(mu_);
    std::string key = obj->metadata.Key();
    Ptr old;
    if (auto it = items_.find(key); it != items_.end()) {
      old = it->second;
      Unindex(key, *old);
    }
    Index(key, *obj);
    items_[key] = std::move(obj);
    return old;
  }

  // Removes; returns what was there, if anything.
  Ptr Remove(const std::string& key) {
    WriterLock l(mu_);
    auto it = items_.find(key);
    if (it == items_.end()) return nullptr;
    Ptr old = it->second;
    Unindex(key, *old);
    items_.erase(it);
    return old;
  }

  // Swaps in a complete new content (after a list) and returns the old one.
  std::unordered_map<std::string, Ptr> Replace(std::vector<Ptr> objs) {
    WriterLock l(mu_);
    std::unordered_map<std::string, Ptr> old;
    old.swap(items_);
    for (auto& [name, idx] : indexes_) idx.clear();
    for (auto& o : objs) {
      std::string key = o->metadata.Key();
      Index(key, *o);
      items_[key] = std::move(o);
    }
    return old;
  }

  Ptr Get(const std::string& key) const {
    ReaderLock l(mu_);
    auto it = items_.find(key);
    return it == items_.end() ? nullptr : it->second;
  }

  std::vector<Ptr> List() const {
    ReaderLock l(mu_);
    std::vector<Ptr> out;
    out.reserve(items_.size());
    for (const auto& [k, v] : items_) out.push_back(v);
    return out;
  }

  std::vector<std::string> Keys() const {
    ReaderLock l(mu_);
    std::vector<std::string> out;
    out.reserve(items_.size());
    for (const auto& [k, v] : items_) out.push_back(k);
    return out;
  }

  // Objects whose index `name` yields `value`.
  std::vector<Ptr> ByIndex(const std::string& name, const std::string& value) const {
    ReaderLock l(mu_);
    std::vector<Ptr> out;
    auto idx = indexes_.find(name);
    if (idx == indexes_.end()) return out;
    auto keys = idx->second.find(value);
    if (keys == idx->second.end()) return out;
    for (const auto& k : keys->second) {
      if (auto it = items_.find(k); it != items_.end()) out.push_back(it->second);
    }
    return out;
  }

  size_t Size() const {
    ReaderLock l(mu_);
    return items_.size();
  }

 private:
  void Index(const std::string& key, const T& obj) HF_REQUIRES(mu_) {
    for (auto& [name, func] : index_funcs_) {
      for (const auto& v : func(obj)) indexes_[name][v].insert(key);
    }
  }
  void Unindex(const std::string& key, const T& obj) HF_REQUIRES(mu_) {
    for (auto& [name, func] : index_funcs_) {
      auto& idx = indexes_[name];
      for (const auto& v : func(obj)) {
        auto it = idx.find(v);
        if (it == idx.end()) continue;
        it->second.erase(key);
        if (it->second.empty()) idx.erase(it);
      }
    }
  }

  mutable SharedMutex mu_;
  std::unordered_map<std::string, Ptr> items_ HF_GUARDED_BY(mu_);
  std::map<std::string, IndexFunc> index_funcs_ HF_GUARDED_BY(mu_);
  std::map<std::string, std::map<std::string, std::set<std::string>>> indexes_ HF_GUARDED_BY(mu_);
};

}  // namespace hf::kube

#endif  // HF_KUBE_CACHE_STORE_H_
