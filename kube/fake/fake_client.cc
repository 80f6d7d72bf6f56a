#include "kube/fake/fake_client.h"

#include <algorithm>
#include <sstream>
#include <utility>

#include "kube/rest/credentials.h"

namespace hf::kube {
namespace {

std::string GroupResource(const GroupVersionResource& gvr) { return gvr.group + "/" + gvr.resource; }

std::string ObjectKey(const std::string& ns, const std::string& name) { return ns.empty() ? name : ns + "/" + name; }

std::string Str(const Json& obj, const char* field) {
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) return "";
  const Json& m = obj["metadata"];
  auto it = m.find(field);
  return it != m.end() && it->is_string() ? it->get<std::string>() : "";
}

Status NotFound(const GroupVersionResource& gvr, const std::string& name) {
  return Status(Reason::kNotFound, gvr.String() + " \"" + name + "\" not found", 404);
}

Status Conflict(const GroupVersionResource& gvr, const std::string& name) {
  return Status(Reason::kConflict,
                "Operation cannot be fulfilled on " + gvr.String() + " \"" + name +
                    "\": the object has been modified; please apply your changes to the latest version and try again",
                409);
}

// A stale resourceVersion in what the caller sent is a Conflict.
Status CheckResourceVersion(const GroupVersionResource& gvr, const Json& stored, const Json& sent) {
  const std::string want = Str(sent, "resourceVersion");
  if (!want.empty() && want != Str(stored, "resourceVersion")) return Conflict(gvr, Str(stored, "name"));
  return Status::Ok();
}

// A label selector term: key op values.
struct Term {
  std::string key;
  enum Op { kEq, kNe, kExists, kNotExists } op;
  std::string value;
};

StatusOr<std::vector<Term>> ParseSelector(const std::string& s) {
  std::vector<Term> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ',')) {
    part.erase(0, part.find_first_not_of(' '));
    part.erase(part.find_last_not_of(' ') + 1);
    if (part.empty()) continue;
    if (part.find(" in ") != std::string::npos || part.find(" notin ") != std::string::npos || part.find('(') != std::string::npos) {
      return Status(Reason::kBadRequest, "fake client: set-based selector not supported: " + part, 400);
    }
    Term t;
    if (auto p = part.find("!="); p != std::string::npos) {
      t = {part.substr(0, p), Term::kNe, part.substr(p + 2)};
    } else if (auto p2 = part.find("=="); p2 != std::string::npos) {
      t = {part.substr(0, p2), Term::kEq, part.substr(p2 + 2)};
    } else if (auto p3 = part.find('='); p3 != std::string::npos) {
      t = {part.substr(0, p3), Term::kEq, part.substr(p3 + 1)};
    } else if (part[0] == '!') {
      t = {part.substr(1), Term::kNotExists, ""};
    } else {
      t = {part, Term::kExists, ""};
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::optional<std::string> LabelOf(const Json& obj, const std::string& key) {
  const Json* labels = nullptr;
  if (obj.contains("metadata") && obj["metadata"].contains("labels")) labels = &obj["metadata"]["labels"];
  if (labels == nullptr || !labels->is_object()) return std::nullopt;
  auto it = labels->find(key);
  if (it == labels->end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::optional<std::string> FieldOf(const Json& obj, const std::string& path) {
  const Json* cur = &obj;
  std::stringstream in(path);
  std::string part;
  while (std::getline(in, part, '.')) {
    if (!cur->is_object() || !cur->contains(part)) return std::nullopt;
    cur = &(*cur)[part];
  }
  if (cur->is_string()) return cur->get<std::string>();
  if (cur->is_primitive() && !cur->is_null()) return cur->dump();
  return std::nullopt;
}

bool Matches(const std::vector<Term>& terms, const Json& obj, bool fields) {
  for (const auto& t : terms) {
    auto v = fields ? FieldOf(obj, t.key) : LabelOf(obj, t.key);
    switch (t.op) {
      case Term::kEq:
        if (v.value_or("") != t.value) return false;
        break;
      case Term::kNe:
        if (v.value_or("") == t.value) return false;
        break;
      case Term::kExists:
        if (!v) return false;
        break;
      case Term::kNotExists:
        if (v) return false;
        break;
    }
  }
  return true;
}

struct Filter {
  std::string ns;
  std::vector<Term> labels, fields;
  bool Accepts(const Json& obj) const {
    if (!ns.empty() && Str(obj, "namespace") != ns) return false;
    return Matches(labels, obj, false) && Matches(fields, obj, true);
  }
};

StatusOr<Filter> MakeFilter(const GroupVersionResource& gvr, const std::string& ns, const std::string& label_selector,
                            const std::string& field_selector) {
  Filter f;
  f.ns = gvr.namespaced ? ns : "";
  auto labels = ParseSelector(label_selector);
  if (!labels.ok()) return labels.status();
  auto fields = ParseSelector(field_selector);
  if (!fields.ok()) return fields.status();
  f.labels = std::move(*labels);
  f.fields = std::move(*fields);
  return f;
}

// What the server sends for one object.
Json Present(const Json& obj, bool metadata_only, bool strip_managed_fields) {
  Json out;
  if (metadata_only) {
    out = {{"apiVersion", "meta.k8s.io/v1"}, {"kind", "PartialObjectMetadata"}, {"metadata", obj["metadata"]}};
  } else {
    out = obj;
  }
  if (strip_managed_fields) out["metadata"].erase("managedFields");
  return out;
}

// Everything but metadata and status: what moves metadata.generation.
Json SpecPart(Json obj) {
  obj.erase("metadata");
  obj.erase("status");
  return obj;
}

// The stored object after a write of `result`: a status write changes only
// the status, any other write everything but the status. Fields the server
// owns stay as stored.
Json Combine(const Json& stored, Json result, bool status_write) {
  Json next;
  if (status_write) {
    next = stored;
    if (result.contains("status")) {
      next["status"] = result["status"];
    } else {
      next.erase("status");
    }
  } else {
    next = std::move(result);
    if (stored.contains("status")) {
      next["status"] = stored["status"];
    } else {
      next.erase("status");
    }
  }
  Json& m = next["metadata"];
  const Json& sm = stored["metadata"];
  for (const char* f : {"name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "generation",
                        "resourceVersion"}) {
    if (sm.contains(f)) {
      m[f] = sm[f];
    } else {
      m.erase(f);
    }
  }
  return next;
}

// Server-side apply for one manager: drop what it applied before and no
// longer applies, then set what it applies now.
void RemoveDropped(Json& base, const Json& before, const Json& now) {
  if (!base.is_object() || !before.is_object()) return;
  for (auto it = before.begin(); it != before.end(); ++it) {
    if (!now.is_object() || !now.contains(it.key())) {
      base.erase(it.key());
    } else if (it->is_object() && now[it.key()].is_object() && base.contains(it.key())) {
      RemoveDropped(base[it.key()], *it, now[it.key()]);
    }
  }
}

void MergeApplied(Json& base, const Json& applied) {
  for (auto it = applied.begin(); it != applied.end(); ++it) {
    if (it->is_null()) {
      base.erase(it.key());
    } else if (it->is_object() && base.contains(it.key()) && base[it.key()].is_object()) {
      MergeApplied(base[it.key()], *it);
    } else {
      base[it.key()] = *it;
    }
  }
}

bool Deleted(const Json& obj) {
  if (Str(obj, "deletionTimestamp").empty()) return false;
  const Json& m = obj["metadata"];
  return !m.contains("finalizers") || !m["finalizers"].is_array() || m["finalizers"].empty();
}

}  // namespace

std::string FakeAction::String() const {
  std::string s = verb + " " + resource + "/";
  if (!ns.empty() && !name.empty()) s += ns + "/";
  s += name;
  if (!subresource.empty()) s += "/" + subresource;
  return s;
}

FakeClient::FakeClient(Clock& clock) : clock_(clock) {}

FakeClient::~FakeClient() {
  MutexLock l(mu_);
  closing_ = true;
  changed_.notify_all();
  // Watches run on the callers' threads; they must have ended (their
  // informers stopped) before the client goes away.
}

Status FakeClient::Begin(FakeAction action) {
  std::vector<Reactor> reactors;
  {
    MutexLock l(mu_);
    actions_.push_back(action);
    reactors = reactors_;
  }
  for (const auto& r : reactors) {
    if (auto st = r(action)) return *st;
  }
  return Status::Ok();
}

std::string FakeClient::NewResourceVersionLocked() { return std::to_string(++rv_); }

void FakeClient::NewObjectMetaLocked(const GroupVersionResource& gvr, const std::string& ns, Json& m) {
  if (gvr.namespaced) {
    m["namespace"] = ns;
  } else {
    m.erase("namespace");
  }
  m.erase("resourceVersion");
  m.erase("deletionTimestamp");
  m["uid"] = "fake-uid-" + std::to_string(++uids_);
  m["creationTimestamp"] = FormatRfc3339(clock_.WallNow());
  m["generation"] = 1;
}

FakeClient::Slot FakeClient::FindLocked(const GroupVersionResource& gvr, const std::string& ns,
                                        const std::string& name) {
  Slot slot{GroupResource(gvr), ObjectKey(gvr.namespaced ? ns : "", name), nullptr};
  auto& objects = objects_[slot.resource];
  if (auto it = objects.find(slot.key); it != objects.end()) slot.stored = &it->second;
  return slot;
}

Json FakeClient::CommitLocked(const std::string& resource, const std::string& key, Json next, bool dry_run) {
  auto& objects = objects_[resource];
  auto it = objects.find(key);
  const bool removing = Deleted(next);
  if (it != objects.end() && !removing) {
    if (SpecPart(it->second) != SpecPart(next)) {
      next["metadata"]["generation"] = it->second["metadata"].value("generation", int64_t{1}) + 1;
    }
    Json a = it->second, b = next;
    a["metadata"].erase("resourceVersion");
    b["metadata"].erase("resourceVersion");
    if (a == b) return it->second;  // nothing changed: no new resourceVersion, no event
  }
  if (dry_run) return next;
  next["metadata"]["resourceVersion"] = NewResourceVersionLocked();
  if (removing) {
    if (it != objects.end()) {
      log_.push_back({resource, WatchEventType::kDeleted, next, it->second});
      objects.erase(it);
    }
    applied_.erase(resource + "|" + key);
  } else if (it == objects.end()) {
    objects.emplace(key, next);
    log_.push_back({resource, WatchEventType::kAdded, next, std::nullopt});
  } else {
    log_.push_back({resource, WatchEventType::kModified, next, it->second});
    it->second = next;
  }
  changed_.notify_all();
  return next;
}

Json FakeClient::Add(const GroupVersionResource& gvr, Json obj) {
  MutexLock l(mu_);
  Json& m = obj["metadata"];
  if (!gvr.namespaced) m.erase("namespace");
  if (!m.contains("uid")) m["uid"] = "fake-uid-" + std::to_string(++uids_);
  if (!m.contains("creationTimestamp")) m["creationTimestamp"] = FormatRfc3339(clock_.WallNow());
  if (!m.contains("generation")) m["generation"] = 1;
  const std::string resource = GroupResource(gvr);
  const std::string key = ObjectKey(Str(obj, "namespace"), Str(obj, "name"));
  auto& objects = objects_[resource];
  if (auto it = objects.find(key); it != objects.end()) {
    m["resourceVersion"] = it->second["metadata"]["resourceVersion"];
  }
  return CommitLocked(resource, key, std::move(obj), false);
}

std::optional<Json> FakeClient::Peek(const GroupVersionResource& gvr, const std::string& ns,
                                     const std::string& name) const {
  MutexLock l(mu_);
  auto r = objects_.find(GroupResource(gvr));
  if (r == objects_.end()) return std::nullopt;
  auto it = r->second.find(ObjectKey(gvr.namespaced ? ns : "", name));
  if (it == r->second.end()) return std::nullopt;
  return it->second;
}

std::vector<FakeAction> FakeClient::Actions() const {
  MutexLock l(mu_);
  return actions_;
}

std::vector<std::string> FakeClient::Writes() const {
  std::vector<std::string> out;
  for (const auto& a : Actions()) {
    if (a.IsWrite()) out.push_back(a.String());
  }
  return out;
}

void FakeClient::ClearActions() {
  MutexLock l(mu_);
  actions_.clear();
}

void FakeClient::AddReactor(Reactor r) {
  MutexLock l(mu_);
  reactors_.push_back(std::move(r));
}

int64_t FakeClient::ResourceVersion() const {
  MutexLock l(mu_);
  return rv_;
}

bool FakeClient::WaitForWatchers(size_t watchers, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  MutexLock l(mu_);
  for (;;) {
    const size_t changes = log_.size();
    if (watchers_.size() >= watchers &&
        std::all_of(watchers_.begin(), watchers_.end(),
                    [changes](const Watcher& w) { return w.done || w.delivered == changes; })) {
      return true;
    }
    if (changed_.wait_until(l.native(), deadline) == std::cv_status::timeout) return false;
  }
}

StatusOr<Json> FakeClient::DoGet(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                                 const GetOptions& opts) {
  if (Status st = Begin({"get", gvr.resource, ns, name, ""}); !st.ok()) return st;
  auto obj = Peek(gvr, ns, name);
  if (!obj) return NotFound(gvr, name);
  return Present(*obj, opts.metadata_only, false);
}

StatusOr<ListPage> FakeClient::DoList(const GroupVersionResource& gvr, const std::string& ns,
                                      const ListOptions& opts) {
  if (Status st = Begin({"list", gvr.resource, ns, "", ""}); !st.ok()) return st;
  auto filter = MakeFilter(gvr, ns, opts.label_selector, opts.field_selector);
  if (!filter.ok()) return filter.status();
  MutexLock l(mu_);
  ListPage page;
  page.resource_version = std::to_string(rv_);
  if (auto r = objects_.find(GroupResource(gvr)); r != objects_.end()) {
    for (const auto& [key, obj] : r->second) {
      if (filter->Accepts(obj)) page.items.push_back(Present(obj, opts.metadata_only, opts.strip_managed_fields));
    }
  }
  return page;
}

Status FakeClient::DoWatch(const GroupVersionResource& gvr, const std::string& ns, const WatchOptions& opts,
                           const std::function<bool(WatchEvent&&)>& on_event, std::stop_token stop) {
  if (Status st = Begin({"watch", gvr.resource, ns, "", ""}); !st.ok()) return st;
  auto filter = MakeFilter(gvr, ns, opts.label_selector, opts.field_selector);
  if (!filter.ok()) return filter.status();
  const std::string resource = GroupResource(gvr);
  auto present = [&](const Json& obj) { return Present(obj, opts.metadata_only, opts.strip_managed_fields); };

  // Before the lock: the callback takes it, and runs at once if stop is
  // already requested.
  std::stop_callback wake(stop, [this] {
    MutexLock g(mu_);
    changed_.notify_all();
  });
  MutexLock l(mu_);
  std::vector<WatchEvent> pending;
  size_t cursor = log_.size();
  if (opts.resource_version.empty() || opts.resource_version == "0") {
    if (auto r = objects_.find(resource); r != objects_.end()) {
      for (const auto& [key, obj] : r->second) {
        if (filter->Accepts(obj)) pending.push_back({WatchEventType::kAdded, present(obj)});
      }
    }
  } else {
    int64_t since = 0;
    try {
      since = std::stoll(opts.resource_version);
    } catch (...) {
      return Status(Reason::kBadRequest, "fake client: bad resourceVersion " + opts.resource_version, 400);
    }
    cursor = 0;
    while (cursor < log_.size() && std::stoll(Str(log_[cursor].object, "resourceVersion")) <= since) ++cursor;
  }
  watchers_.emplace_back();
  auto self = std::prev(watchers_.end());
  auto finish = [&]() HF_REQUIRES(mu_) {
    watchers_.erase(self);
    changed_.notify_all();
  };
  for (;;) {
    for (; cursor < log_.size(); ++cursor) {
      const Change& c = log_[cursor];
      if (c.resource != resource) continue;
      const bool now = filter->Accepts(c.object);
      const bool was = c.before && filter->Accepts(*c.before);
      if (c.type == WatchEventType::kDeleted) {
        if (now) pending.push_back({WatchEventType::kDeleted, present(c.object)});
      } else if (now) {
        pending.push_back({was ? WatchEventType::kModified : WatchEventType::kAdded, present(c.object)});
      } else if (was) {
        pending.push_back({WatchEventType::kDeleted, present(c.object)});
      }
    }
    l.Unlock();
    bool more = true;
    for (auto& ev : pending) {
      if (more) more = on_event(std::move(ev));
    }
    pending.clear();
    l.Lock();
    if (!more) {
      finish();
      return Status::Ok();
    }
    self->delivered = cursor;
    changed_.notify_all();
    while (log_.size() <= cursor && !stop.stop_requested() && !closing_) changed_.wait(l.native());
    if (stop.stop_requested() || closing_) {
      finish();
      return Status::Ok();
    }
  }
}

StatusOr<Json> FakeClient::DoCreate(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                                    const WriteOptions& opts) {
  std::string name = Str(obj, "name");
  if (Status st = Begin({"create", gvr.resource, ns, name, ""}); !st.ok()) return st;
  MutexLock l(mu_);
  Json next = obj;
  Json& m = next["metadata"];
  if (name.empty()) {
    const std::string prefix = Str(obj, "generateName");
    if (prefix.empty()) return Status(Reason::kInvalid, "metadata.name: Required value", 422);
    name = prefix + std::to_string(++uids_);
    m["name"] = name;
  }
  const std::string resource = GroupResource(gvr);
  const std::string key = ObjectKey(gvr.namespaced ? ns : "", name);
  if (objects_[resource].count(key) > 0) {
    return Status(Reason::kAlreadyExists, gvr.String() + " \"" + name + "\" already exists", 409);
  }
  NewObjectMetaLocked(gvr, ns, m);
  return CommitLocked(resource, key, std::move(next), opts.dry_run);
}

StatusOr<Json> FakeClient::DoUpdate(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                                    const WriteOptions& opts, bool status) {
  const std::string name = Str(obj, "name");
  if (Status st = Begin({"update", gvr.resource, ns, name, status ? "status" : ""}); !st.ok()) return st;
  MutexLock l(mu_);
  Slot slot = FindLocked(gvr, ns, name);
  if (slot.stored == nullptr) return NotFound(gvr, name);
  if (Status st = CheckResourceVersion(gvr, *slot.stored, obj); !st.ok()) return st;
  return CommitLocked(slot.resource, slot.key, Combine(*slot.stored, obj, status), opts.dry_run);
}

Status FakeClient::DoDelete(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                            const DeleteOptions& opts) {
  if (Status st = Begin({"delete", gvr.resource, ns, name, ""}); !st.ok()) return st;
  MutexLock l(mu_);
  Slot slot = FindLocked(gvr, ns, name);
  if (slot.stored == nullptr) return NotFound(gvr, name);
  if ((!opts.precondition_uid.empty() && opts.precondition_uid != Str(*slot.stored, "uid")) ||
      (!opts.precondition_resource_version.empty() &&
       opts.precondition_resource_version != Str(*slot.stored, "resourceVersion"))) {
    return Status(Reason::kConflict, "Operation cannot be fulfilled on " + gvr.String() + " \"" + name +
                                         "\": precondition failed", 409);
  }
  Json next = *slot.stored;
  if (!next["metadata"].contains("deletionTimestamp")) {
    next["metadata"]["deletionTimestamp"] = FormatRfc3339(clock_.WallNow());
  }
  CommitLocked(slot.resource, slot.key, std::move(next), opts.dry_run);
  return Status::Ok();
}

StatusOr<Json> FakeClient::DoPatch(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                                   PatchType type, const std::string& body, const PatchOptions& opts) {
  if (Status st = Begin({"patch", gvr.resource, ns, name, opts.subresource}); !st.ok()) return st;
  Json patch = Json::parse(body, nullptr, false);
  if (patch.is_discarded()) return Status(Reason::kBadRequest, "patch body is not JSON", 400);
  MutexLock l(mu_);
  Slot slot = FindLocked(gvr, ns, name);
  if (slot.stored == nullptr) return NotFound(gvr, name);
  Json result = *slot.stored;
  if (type == PatchType::kJson) {
    try {
      result = result.patch(patch);
    } catch (const Json::exception& e) {
      return Status(Reason::kInvalid, std::string("json patch: ") + e.what(), 422);
    }
  } else {
    if (!patch.is_object()) return Status(Reason::kBadRequest, "merge patch is not an object", 400);
    if (Status st = CheckResourceVersion(gvr, *slot.stored, patch); !st.ok()) return st;
    result.merge_patch(patch);
  }
  return CommitLocked(slot.resource, slot.key, Combine(*slot.stored, std::move(result), opts.subresource == "status"),
                      opts.dry_run);
}

StatusOr<Json> FakeClient::DoApply(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                                   const ApplyOptions& opts) {
  const std::string name = Str(obj, "name");
  if (Status st = Begin({"apply", gvr.resource, ns, name, opts.subresource}); !st.ok()) return st;
  if (opts.field_manager.empty()) return Status(Reason::kInvalid, "server-side apply needs a field manager", 422);
  if (name.empty()) return Status(Reason::kInvalid, "metadata.name: Required value", 422);
  const bool status_write = opts.subresource == "status";
  MutexLock l(mu_);
  Slot slot = FindLocked(gvr, ns, name);
  const std::string& resource = slot.resource;
  const std::string& key = slot.key;
  Json applied = obj;
  applied["metadata"].erase("resourceVersion");
  Json& remembered = applied_[resource + "|" + key][opts.field_manager + "|" + opts.subresource];
  if (slot.stored == nullptr) {
    if (status_write) return NotFound(gvr, name);
    if (!Str(obj, "resourceVersion").empty()) return NotFound(gvr, name);
    Json next = applied;
    next.erase("status");
    NewObjectMetaLocked(gvr, ns, next["metadata"]);
    Json out = CommitLocked(resource, key, std::move(next), opts.dry_run);
    if (!opts.dry_run) remembered = applied;
    return out;
  }
  if (Status st = CheckResourceVersion(gvr, *slot.stored, obj); !st.ok()) return st;
  Json result = *slot.stored;
  if (!remembered.is_null()) RemoveDropped(result, remembered, applied);
  MergeApplied(result, applied);
  Json out = CommitLocked(resource, key, Combine(*slot.stored, std::move(result), status_write), opts.dry_run);
  if (!opts.dry_run) remembered = applied;
  return out;
}

}  // namespace hf::kube
