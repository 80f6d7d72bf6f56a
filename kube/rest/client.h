// Client: the verbs of the Kubernetes REST API over a Transport, on JSON
// objects (like client-go's dynamic client). Typed structs for our own CRs
// sit on top of it, each with one codec.
//
// Errors come back as Status with the API's reason (NotFound, Conflict,
// Invalid, Gone, Forbidden, TooManyRequests with its Retry-After, ...).
// Requests other than watches wait for the client-side QPS/burst bucket;
// 429 answers with Retry-After are retried a few times before giving up.
//
// Thread-safety: safe for concurrent use.
#ifndef HF_KUBE_REST_CLIENT_H_
#define HF_KUBE_REST_CLIENT_H_

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "kube/clock.h"
#include "kube/rest/resource.h"
#include "kube/rest/transport.h"
#include "kube/status.h"

namespace hf::kube {

class TokenBucket;

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

// One finished request, for metrics.
struct RequestRecord {
  std::string verb;  // get, list, watch, create, update, patch, apply, delete
  std::string resource;
  int code;  // 0 when no HTTP answer came
  double seconds;
};

struct ClientOptions {
  // Client-side limit; nullptr for none.
  std::shared_ptr<TokenBucket> rate_limiter;
  Clock* clock = nullptr;  // nullptr = DefaultClock()
  std::function<void(const RequestRecord&)> on_request;
  // How many times a 429/503 with Retry-After is retried.
  int max_retries = 5;
};

class Client {
 public:
  Client(std::shared_ptr<Transport> transport, ClientOptions options = {});

  StatusOr<Json> Get(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                     const GetOptions& opts = {});
  // One page; see ListEach for all of them.
  StatusOr<ListPage> List(const GroupVersionResource& gvr, const std::string& ns,
                          const ListOptions& opts = {});
  // Every item, page by page (opts.limit per page), handed over one at a time
  // so a large list never sits in memory whole. Sets *resource_version to the
  // list's, to watch from.
  Status ListEach(const GroupVersionResource& gvr, const std::string& ns, ListOptions opts,
                  const std::function<void(Json&&)>& on_item, std::string* resource_version);

  StatusOr<Json> Create(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                        const WriteOptions& opts = {});
  // PUT; obj carries metadata.name and the resourceVersion it was read at,
  // so a stale write is a Conflict.
  StatusOr<Json> Update(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                        const WriteOptions& opts = {});
  StatusOr<Json> UpdateStatus(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                              const WriteOptions& opts = {});
  Status Delete(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                const DeleteOptions& opts = {});
  StatusOr<Json> Patch(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                       PatchType type, const std::string& body, const PatchOptions& opts = {});
  // Server-side apply of `obj` (its metadata.name names the object).
  StatusOr<Json> Apply(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                       const ApplyOptions& opts);

  // Streams events until the server ends the watch, `on_event` returns
  // false, or `stop` is requested. An expired resourceVersion arrives either
  // as a 410 (Status reason Gone) or as an ERROR event carrying a Status.
  Status Watch(const GroupVersionResource& gvr, const std::string& ns, const WatchOptions& opts,
               const std::function<bool(WatchEvent&&)>& on_event, std::stop_token stop);

  // Any other request (discovery, TokenRequest, SelfSubjectAccessReview).
  StatusOr<Json> Raw(const std::string& method, const std::string& path, const Json* body = nullptr);
  // A GET whose answer is not JSON, e.g. a pod's log.
  StatusOr<std::string> GetText(const std::string& path);

 private:
  StatusOr<Json> Send(const std::string& verb, const std::string& resource, HttpRequest req);
  // The body of a 2xx answer, after the retries Send makes.
  StatusOr<std::string> SendForBody(const std::string& verb, const std::string& resource, HttpRequest req);

  std::shared_ptr<Transport> transport_;
  ClientOptions options_;
  Clock& clock_;
};

// A Status from an API error body (metav1.Status) or, failing that, the code.
Status StatusFromResponse(int code, const std::string& body);

}  // namespace hf::kube

#endif  // HF_KUBE_REST_CLIENT_H_
