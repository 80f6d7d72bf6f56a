#include "kube/rest/client.h"

#include <chrono>

#include "kube/workqueue/token_bucket.h"

namespace hf::kube {
namespace {

constexpr char kMetadataAccept[] =
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";
constexpr char kMetadataListAccept[] =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

class Query {
 public:
  Query& Add(const char* key, const std::string& value) {
    if (value.empty()) return *this;
    q_ += q_.empty() ? '?' : '&';
    q_ += key;
    q_ += '=';
    q_ += QueryEscape(value);
    return *this;
  }
  const std::string& str() const { return q_; }

 private:
  std::string q_;
};

std::string NameOf(const Json& obj) {
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) return "";
  return obj["metadata"].value("name", "");
}

std::optional<WatchEventType> ParseEventType(const std::string& t) {
  if (t == "ADDED") return WatchEventType::kAdded;
  if (t == "MODIFIED") return WatchEventType::kModified;
  if (t == "DELETED") return WatchEventType::kDeleted;
  if (t == "BOOKMARK") return WatchEventType::kBookmark;
  if (t == "ERROR") return WatchEventType::kError;
  return std::nullopt;
}

// Parses a list body (the objects under "items") or a watch event (the
// object under "object"), leaving out each object's metadata.managedFields
// without building them. Keys arrive in document order, so remembering the
// last key at the two depths that matter says where a key sits. Inside a
// discarded value the parser builds nothing and reports only keys and the
// starts of objects and arrays, each deeper than the managedFields key.
Json ParseStripped(std::string_view text, std::string_view outer) {
  const int metadata_depth = outer == "items" ? 3 : 2;  // an array adds a level
  const int fields_depth = metadata_depth + 1;
  bool in_outer = false, in_metadata = false, skipping = false;
  auto cb = [&](int depth, Json::parse_event_t ev, Json& parsed) {
    if (skipping) {
      if (depth > fields_depth || (depth == fields_depth && ev != Json::parse_event_t::key)) return false;
      skipping = false;
    }
    if (ev != Json::parse_event_t::key) return true;
    const auto& key = parsed.get_ref<const std::string&>();
    if (depth == 1) in_outer = key == outer;
    if (depth == metadata_depth) in_metadata = key == "metadata";
    if (depth == fields_depth && in_outer && in_metadata && key == "managedFields") skipping = true;
    return !skipping;
  };
  return Json::parse(text, cb, /*allow_exceptions=*/false);
}

}  // namespace

Status StatusFromResponse(int code, const std::string& body) {
  Json doc = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  Reason reason = ReasonFromHttpCode(code);
  std::string message;
  if (doc.is_object() && doc.value("kind", "") == "Status") {
    Reason from_body = ReasonFromString(doc.value("reason", ""));
    if (from_body != Reason::kUnknown) reason = from_body;
    message = doc.value("message", "");
  } else {
    message = body.substr(0, 512);
  }
  if (message.empty()) message = "HTTP " + std::to_string(code);
  return Status(reason, message, code);
}

Client::Client(std::shared_ptr<Transport> transport, ClientOptions options)
    : transport_(std::move(transport)),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : DefaultClock()) {}

StatusOr<Json> Client::Send(const std::string& verb, const std::string& resource, HttpRequest req) {
  const std::string path = req.path;
  auto body = SendForBody(verb, resource, std::move(req));
  if (!body.ok()) return body.status();
  if (body->empty()) return Json::object();
  Json doc = Json::parse(*body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status(Reason::kInternalError, verb + " " + path + ": response is not JSON");
  return doc;
}

StatusOr<std::string> Client::GetText(const std::string& path) {
  HttpRequest req;
  req.path = path;
  req.accept = "*/*";  // a log is text/plain, which the server serves only to */*
  return SendForBody("get", "raw", std::move(req));
}

StatusOr<std::string> Client::SendForBody(const std::string& verb, const std::string& resource, HttpRequest req) {
  for (int attempt = 0;; ++attempt) {
    if (options_.rate_limiter) options_.rate_limiter->Wait();
    auto start = clock_.Now();
    auto resp = transport_->Do(req);
    double secs = std::chrono::duration<double>(clock_.Now() - start).count();
    if (options_.on_request) options_.on_request({verb, resource, resp.ok() ? resp->code : 0, secs});
    if (!resp.ok()) return resp.status();
    if (resp->code >= 200 && resp->code < 300) return std::move(resp->body);
    Status st = StatusFromResponse(resp->code, resp->body);
    if (resp->retry_after) st.set_retry_after(*resp->retry_after);
    bool retryable = (resp->code == 429 || resp->code == 503) && resp->retry_after.has_value();
    if (!retryable || attempt >= options_.max_retries) return st;
    Mutex mu;
    std::condition_variable cv;
    MutexLock lock(mu);
    auto deadline = clock_.Now() + *resp->retry_after;
    while (clock_.Now() < deadline) clock_.WaitUntil(lock.native(), cv, deadline);
  }
}

StatusOr<Json> Client::DoGet(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                           const GetOptions& opts) {
  HttpRequest req;
  req.path = ResourcePath(gvr, ns, name);
  if (opts.metadata_only) req.accept = kMetadataAccept;
  return Send("get", gvr.String(), std::move(req));
}

StatusOr<ListPage> Client::DoList(const GroupVersionResource& gvr, const std::string& ns,
                                const ListOptions& opts) {
  Query q;
  q.Add("labelSelector", opts.label_selector)
      .Add("fieldSelector", opts.field_selector)
      .Add("limit", opts.limit > 0 ? std::to_string(opts.limit) : "")
      .Add("continue", opts.continue_token)
      .Add("resourceVersion", opts.resource_version);
  HttpRequest req;
  req.path = ResourcePath(gvr, ns) + q.str();
  if (opts.metadata_only) req.accept = kMetadataListAccept;
  StatusOr<Json> doc = Json();
  if (opts.strip_managed_fields) {
    const std::string path = req.path;
    auto body = SendForBody("list", gvr.String(), std::move(req));
    if (!body.ok()) return body.status();
    doc = ParseStripped(*body, "items");
    if (doc->is_discarded()) return Status(Reason::kInternalError, "list " + path + ": response is not JSON");
  } else {
    doc = Send("list", gvr.String(), std::move(req));
  }
  if (!doc.ok()) return doc.status();
  ListPage page;
  if (doc->contains("metadata") && (*doc)["metadata"].is_object()) {
    page.resource_version = (*doc)["metadata"].value("resourceVersion", "");
    page.continue_token = (*doc)["metadata"].value("continue", "");
  }
  if (doc->contains("items") && (*doc)["items"].is_array()) {
    page.items = std::move((*doc)["items"].get_ref<Json::array_t&>());
  }
  // The server leaves apiVersion and kind off list items. Put them back, so
  // an item reads like the same object from a GET or a watch event: callers
  // compare cached objects with desired ones, and a missing kind would look
  // like drift after every re-list.
  std::string kind = doc->value("kind", "");
  if (kind.size() > 4 && kind.compare(kind.size() - 4, 4, "List") == 0) kind.resize(kind.size() - 4);
  const std::string api_version = doc->value("apiVersion", "");
  for (auto& item : page.items) {
    if (!item.is_object()) continue;
    if (!kind.empty() && !item.contains("kind")) item["kind"] = kind;
    if (!api_version.empty() && !item.contains("apiVersion")) item["apiVersion"] = api_version;
  }
  return page;
}

StatusOr<Json> Client::DoCreate(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                              const WriteOptions& opts) {
  HttpRequest req;
  req.method = "POST";
  req.path = ResourcePath(gvr, ns) +
             Query().Add("fieldManager", opts.field_manager).Add("dryRun", opts.dry_run ? "All" : "").str();
  req.content_type = "application/json";
  req.body = obj.dump();
  return Send("create", gvr.String(), std::move(req));
}

StatusOr<Json> Client::DoUpdate(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                                const WriteOptions& opts, bool status) {
  HttpRequest req;
  req.method = "PUT";
  req.path = ResourcePath(gvr, ns, NameOf(obj), status ? "status" : "") +
             Query().Add("fieldManager", opts.field_manager).Add("dryRun", opts.dry_run ? "All" : "").str();
  req.content_type = "application/json";
  req.body = obj.dump();
  return Send("update", gvr.String(), std::move(req));
}

Status Client::DoDelete(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                      const DeleteOptions& opts) {
  Json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  switch (opts.propagation) {
    case PropagationPolicy::kBackground: body["propagationPolicy"] = "Background"; break;
    case PropagationPolicy::kForeground: body["propagationPolicy"] = "Foreground"; break;
    case PropagationPolicy::kOrphan: body["propagationPolicy"] = "Orphan"; break;
    case PropagationPolicy::kDefault: break;
  }
  if (!opts.precondition_uid.empty()) body["preconditions"]["uid"] = opts.precondition_uid;
  if (!opts.precondition_resource_version.empty()) {
    body["preconditions"]["resourceVersion"] = opts.precondition_resource_version;
  }
  if (opts.dry_run) body["dryRun"] = Json::array({"All"});
  HttpRequest req;
  req.method = "DELETE";
  req.path = ResourcePath(gvr, ns, name);
  req.content_type = "application/json";
  req.body = body.dump();
  auto r = Send("delete", gvr.String(), std::move(req));
  return r.status();
}

StatusOr<Json> Client::DoPatch(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                             PatchType type, const std::string& body, const PatchOptions& opts) {
  HttpRequest req;
  req.method = "PATCH";
  req.path = ResourcePath(gvr, ns, name, opts.subresource) +
             Query().Add("fieldManager", opts.field_manager).Add("dryRun", opts.dry_run ? "All" : "").str();
  switch (type) {
    case PatchType::kMerge: req.content_type = "application/merge-patch+json"; break;
    case PatchType::kJson: req.content_type = "application/json-patch+json"; break;
    case PatchType::kStrategicMerge: req.content_type = "application/strategic-merge-patch+json"; break;
  }
  req.body = body;
  return Send("patch", gvr.String(), std::move(req));
}

StatusOr<Json> Client::DoApply(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                             const ApplyOptions& opts) {
  if (opts.field_manager.empty()) {
    return Status(Reason::kInvalid, "server-side apply needs a field manager");
  }
  HttpRequest req;
  req.method = "PATCH";
  req.path = ResourcePath(gvr, ns, NameOf(obj), opts.subresource) +
             Query()
                 .Add("fieldManager", opts.field_manager)
                 .Add("force", opts.force ? "true" : "")
                 .Add("dryRun", opts.dry_run ? "All" : "")
                 .str();
  // JSON is YAML, so the apply content type takes it as is.
  req.content_type = "application/apply-patch+yaml";
  req.body = obj.dump();
  return Send("apply", gvr.String(), std::move(req));
}

Status Client::DoWatch(const GroupVersionResource& gvr, const std::string& ns, const WatchOptions& opts,
                     const std::function<bool(WatchEvent&&)>& on_event, std::stop_token stop) {
  Query q;
  q.Add("watch", "true")
      .Add("resourceVersion", opts.resource_version)
      .Add("labelSelector", opts.label_selector)
      .Add("fieldSelector", opts.field_selector)
      .Add("allowWatchBookmarks", opts.allow_bookmarks ? "true" : "")
      .Add("timeoutSeconds", std::to_string(opts.timeout_seconds));
  HttpRequest req;
  req.path = ResourcePath(gvr, ns) + q.str();
  if (opts.metadata_only) req.accept = kMetadataAccept;
  // The server ends the watch at timeoutSeconds; the client gives it slack.
  req.timeout = std::chrono::seconds(opts.timeout_seconds + 30);

  std::string buffer;
  Status decode_error;
  bool keep_going = true;
  auto on_data = [&](std::string_view chunk) {
    buffer.append(chunk);
    size_t start = 0;
    for (size_t nl; keep_going && (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line(buffer.data() + start, nl - start);
      if (line.empty()) continue;
      Json doc = opts.strip_managed_fields ? ParseStripped(line, "object")
                                           : Json::parse(line, nullptr, /*allow_exceptions=*/false);
      auto type = doc.is_object() ? ParseEventType(doc.value("type", "")) : std::nullopt;
      if (!type || !doc.contains("object")) {
        decode_error = Status(Reason::kInternalError, "undecodable watch event on " + gvr.String());
        keep_going = false;
        break;
      }
      keep_going = on_event(WatchEvent{*type, std::move(doc["object"])});
    }
    buffer.erase(0, start);
    return keep_going;
  };

  if (options_.rate_limiter) options_.rate_limiter->Wait();
  auto begin = clock_.Now();
  auto resp = transport_->Stream(req, on_data, stop);
  double secs = std::chrono::duration<double>(clock_.Now() - begin).count();
  if (options_.on_request) options_.on_request({"watch", gvr.String(), resp.ok() ? resp->code : 0, secs});
  if (!resp.ok()) return resp.status();
  if (!decode_error.ok()) return decode_error;
  if (resp->code < 200 || resp->code >= 300) return StatusFromResponse(resp->code, resp->body);
  return Status::Ok();
}

StatusOr<Json> Client::Raw(const std::string& method, const std::string& path, const Json* body) {
  HttpRequest req;
  req.method = method;
  req.path = path;
  if (body != nullptr) {
    req.content_type = "application/json";
    req.body = body->dump();
  }
  std::string verb = method;
  for (auto& c : verb) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return Send(verb, "raw", std::move(req));
}

}  // namespace hf::kube
