// FakeClient: a Reader and Writer (kube/rest/interfaces.h) over an in-memory
// object tracker, for unit tests of controllers, like controller-runtime's
// fake client. It keeps what a reconciler's correctness depends on:
//
// - resourceVersions from one counter; a write that changes nothing keeps the
//   object's resourceVersion and sends no watch event (as the API server);
// - Conflict for a stale resourceVersion in an Update, a Patch or an Apply,
//   AlreadyExists, NotFound, and Delete preconditions;
// - finalizers: Delete sets deletionTimestamp while any remain, and the
//   write that removes the last one removes the object;
// - the status subresource: writes without `subresource = "status"` keep
//   the stored status, and status writes change nothing else;
// - server-side apply as far as one field manager goes: fields the same
//   manager applied before and leaves out now are removed; lists are
//   replaced whole (no merge keys), and managers never conflict;
// - list and watch with label selectors (=, ==, !=, key, !key), field
//   selectors on dotted paths, metadata-only answers, and watches that start
//   from a resourceVersion (replaying what followed it) and send DELETED
//   when an object leaves the selector.
//
// Not modelled: admission and validation, defaulting, garbage collection,
// strategic merge (treated as a JSON merge patch), paging, bookmarks.
//
// Reactors answer a request with an error before the tracker sees it, to
// test error branches. Every request is recorded as an Action.
//
// Thread-safety: safe for concurrent use.
#ifndef HF_KUBE_FAKE_FAKE_CLIENT_H_
#define HF_KUBE_FAKE_FAKE_CLIENT_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kube/clock.h"
#include "kube/rest/interfaces.h"
#include "kube/mutex.h"

namespace hf::kube {

struct FakeAction {
  std::string verb;  // get, list, watch, create, update, patch, apply, delete
  std::string resource;  // gvr.resource
  std::string ns;
  std::string name;  // empty for list and watch
  std::string subresource;
  bool IsWrite() const { return verb != "get" && verb != "list" && verb != "watch"; }
  std::string String() const;  // "patch nodes/node-1"
};

class FakeClient final : public ReadWriter {
 public:
  explicit FakeClient(Clock& clock = DefaultClock());
  ~FakeClient() override;
  FakeClient(const FakeClient&) = delete;
  FakeClient& operator=(const FakeClient&) = delete;

  // Stores `obj` as the server would hold it, status included, with no
  // Action recorded; fills in uid, resourceVersion and creationTimestamp.
  // Replaces an object of the same name. Returns the stored object.
  Json Add(const GroupVersionResource& gvr, Json obj);
  // The stored object, without recording an Action.
  std::optional<Json> Peek(const GroupVersionResource& gvr, const std::string& ns, const std::string& name) const;

  std::vector<FakeAction> Actions() const;
  // Only the writes, as "verb resource/name" strings (with "/subresource").
  std::vector<std::string> Writes() const;
  void ClearActions();

  // Called before each request; an error it returns is the answer, and the
  // tracker is not touched. Reactors run in the order added.
  using Reactor = std::function<std::optional<Status>(const FakeAction&)>;
  void AddReactor(Reactor r);

  // The newest resourceVersion handed out.
  int64_t ResourceVersion() const;
  // Waits (on real time, at most `timeout`) until at least `watchers`
  // watches are open and every open watch has delivered every event; true
  // if that happened. After it, informers fed by this client hold every
  // write made before the call.
  bool WaitForWatchers(size_t watchers, std::chrono::milliseconds timeout) const;

 protected:
  StatusOr<Json> DoGet(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                       const GetOptions& opts) override;
  StatusOr<ListPage> DoList(const GroupVersionResource& gvr, const std::string& ns, const ListOptions& opts) override;
  Status DoWatch(const GroupVersionResource& gvr, const std::string& ns, const WatchOptions& opts,
                 const std::function<bool(WatchEvent&&)>& on_event, std::stop_token stop) override;
  StatusOr<Json> DoCreate(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                          const WriteOptions& opts) override;
  StatusOr<Json> DoUpdate(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                          const WriteOptions& opts, bool status) override;
  Status DoDelete(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                  const DeleteOptions& opts) override;
  StatusOr<Json> DoPatch(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                         PatchType type, const std::string& body, const PatchOptions& opts) override;
  StatusOr<Json> DoApply(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                         const ApplyOptions& opts) override;

 private:
  struct Change {
    std::string resource;  // group/resource
    WatchEventType type;
    Json object;           // after the change (for DELETED: as last stored)
    std::optional<Json> before;  // the previous state, for selector exits
  };
  struct Watcher {
    size_t delivered = 0;  // log entries handled
    bool done = false;
  };

  // Where an object is kept; `stored` is null when there is none.
  struct Slot {
    std::string resource;  // group/resource
    std::string key;       // ns/name
    Json* stored;
  };
  Slot FindLocked(const GroupVersionResource& gvr, const std::string& ns, const std::string& name)
      HF_REQUIRES(mu_);
  // What the server sets on an object it creates: namespace, uid,
  // creationTimestamp, generation 1; no resourceVersion or deletion.
  void NewObjectMetaLocked(const GroupVersionResource& gvr, const std::string& ns, Json& metadata)
      HF_REQUIRES(mu_);
  // Records the action and runs the reactors.
  Status Begin(FakeAction action) HF_EXCLUDES(mu_);
  // Stores `next` in place of the object at `key` (or removes it when the
  // last finalizer of a deleted object is gone), bumping the
  // resourceVersion unless nothing changed.
  Json CommitLocked(const std::string& resource, const std::string& key, Json next, bool dry_run)
      HF_REQUIRES(mu_);
  std::string NewResourceVersionLocked() HF_REQUIRES(mu_);

  Clock& clock_;
  mutable Mutex mu_;
  mutable std::condition_variable changed_;
  // group/resource -> ns/name -> object
  std::map<std::string, std::map<std::string, Json>> objects_ HF_GUARDED_BY(mu_);
  // Server-side apply: what each manager applied last, by object:
  // group/resource|ns/name -> manager -> obj
  std::map<std::string, std::map<std::string, Json>> applied_ HF_GUARDED_BY(mu_);
  std::vector<Change> log_ HF_GUARDED_BY(mu_);
  std::list<Watcher> watchers_ HF_GUARDED_BY(mu_);
  // Never "0", which a watch reads as "from the current state".
  int64_t rv_ HF_GUARDED_BY(mu_) = 1;
  int64_t uids_ HF_GUARDED_BY(mu_) = 0;
  std::vector<FakeAction> actions_ HF_GUARDED_BY(mu_);
  std::vector<Reactor> reactors_ HF_GUARDED_BY(mu_);
  bool closing_ HF_GUARDED_BY(mu_) = false;
};

}  // namespace hf::kube

#endif  // HF_KUBE_FAKE_FAKE_CLIENT_H_
