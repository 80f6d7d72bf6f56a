// Reader and Writer: the verbs of the Kubernetes API as interfaces, split the
// way controller-runtime splits its client. Code that only reads (informers,
// reflectors) takes a Reader; code that also writes (reconcilers) takes a
// ReadWriter; Client implements both over HTTP, and kube/fake's FakeClient
// over an in-memory object tracker, so a reconciler runs in a unit test.
//
// Status writes are Patch and Apply with `subresource = "status"`, and
// UpdateStatus.
//
// The public verbs are non-virtual, with their defaults here once; an
// implementation overrides the protected Do* functions.
//
// Thread-safety: implementations are safe for concurrent use.
#ifndef HF_KUBE_REST_INTERFACES_H_
#define HF_KUBE_REST_INTERFACES_H_

#include <functional>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <vector>

#include "kube/rest/resource.h"
#include "kube/status.h"

namespace hf::kube {

using Json = nlohmann::json;

struct GetOptions {
  // PartialObjectMetadata: only metadata travels, for Nodes and the like.
  bool metadata_only = false;
};

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 0;  // page size; 0 = server default (everything)
  std::string continue_token;
  std::string resource_version;
  bool metadata_only = false;
  // Leave out each item's metadata.managedFields while parsing: a cache has
  // no use for them, and they are often the largest part of an object.
  bool strip_managed_fields = false;
};

struct ListPage {
  std::vector<Json> items;
  std::string resource_version;
  std::string continue_token;
};

struct WriteOptions {
  std::string field_manager;
  bool dry_run = false;  // server-side dry-run (dryRun=All)
};

enum class PropagationPolicy { kDefault, kBackground, kForeground, kOrphan };

struct DeleteOptions {
  PropagationPolicy propagation = PropagationPolicy::kDefault;
  std::string precondition_uid;
  std::string precondition_resource_version;
  bool dry_run = false;
};

enum class PatchType { kMerge, kJson, kStrategicMerge };

struct PatchOptions {
  std::string field_manager;
  std::string subresource;
  bool dry_run = false;
};

struct ApplyOptions {
  std::string field_manager;  // required
  bool force = false;
  std::string subresource;
  bool dry_run = false;
};

struct WatchOptions {
  std::string resource_version;
  std::string label_selector;
  std::string field_selector;
  bool allow_bookmarks = true;
  bool metadata_only = false;
  bool strip_managed_fields = false;  // as in ListOptions
  // Server-side timeout; the stream then ends normally and is re-opened.
  int timeout_seconds = 300;
};

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };

struct WatchEvent {
  WatchEventType type;
  Json object;
};

class Reader {
 public:
  virtual ~Reader() = default;

  StatusOr<Json> Get(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                     const GetOptions& opts = {}) {
    return DoGet(gvr, ns, name, opts);
  }
  // One page; see ListEach for all of them.
  StatusOr<ListPage> List(const GroupVersionResource& gvr, const std::string& ns, const ListOptions& opts = {}) {
    return DoList(gvr, ns, opts);
  }
  // Every item, page by page (opts.limit per page), handed over one at a time
  // so a large list never sits in memory whole. Sets *resource_version to the
  // list's, to watch from.
  Status ListEach(const GroupVersionResource& gvr, const std::string& ns, ListOptions opts,
                  const std::function<void(Json&&)>& on_item, std::string* resource_version);
  // Streams events until the server ends the watch, `on_event` returns
  // false, or `stop` is requested. An expired resourceVersion arrives either
  // as a 410 (Status reason Gone) or as an ERROR event carrying a Status.
  Status Watch(const GroupVersionResource& gvr, const std::string& ns, const WatchOptions& opts,
               const std::function<bool(WatchEvent&&)>& on_event, std::stop_token stop) {
    return DoWatch(gvr, ns, opts, on_event, std::move(stop));
  }

 protected:
  virtual StatusOr<Json> DoGet(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                               const GetOptions& opts) = 0;
  virtual StatusOr<ListPage> DoList(const GroupVersionResource& gvr, const std::string& ns,
                                    const ListOptions& opts) = 0;
  virtual Status DoWatch(const GroupVersionResource& gvr, const std::string& ns, const WatchOptions& opts,
                         const std::function<bool(WatchEvent&&)>& on_event, std::stop_token stop) = 0;
};

class Writer {
 public:
  virtual ~Writer() = default;

  StatusOr<Json> Create(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                        const WriteOptions& opts = {}) {
    return DoCreate(gvr, ns, obj, opts);
  }
  // PUT; obj carries metadata.name and the resourceVersion it was read at,
  // so a stale write is a Conflict.
  StatusOr<Json> Update(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                        const WriteOptions& opts = {}) {
    return DoUpdate(gvr, ns, obj, opts, /*status=*/false);
  }
  StatusOr<Json> UpdateStatus(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                              const WriteOptions& opts = {}) {
    return DoUpdate(gvr, ns, obj, opts, /*status=*/true);
  }
  Status Delete(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                const DeleteOptions& opts = {}) {
    return DoDelete(gvr, ns, name, opts);
  }
  StatusOr<Json> Patch(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                       PatchType type, const std::string& body, const PatchOptions& opts = {}) {
    return DoPatch(gvr, ns, name, type, body, opts);
  }
  // Server-side apply of `obj` (its metadata.name names the object).
  StatusOr<Json> Apply(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                       const ApplyOptions& opts) {
    return DoApply(gvr, ns, obj, opts);
  }

 protected:
  virtual StatusOr<Json> DoCreate(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                                  const WriteOptions& opts) = 0;
  virtual StatusOr<Json> DoUpdate(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                                  const WriteOptions& opts, bool status) = 0;
  virtual Status DoDelete(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                          const DeleteOptions& opts) = 0;
  virtual StatusOr<Json> DoPatch(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                                 PatchType type, const std::string& body, const PatchOptions& opts) = 0;
  virtual StatusOr<Json> DoApply(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                                 const ApplyOptions& opts) = 0;
};

class ReadWriter : public Reader, public Writer {};

}  // namespace hf::kube

#endif  // HF_KUBE_REST_INTERFACES_H_
