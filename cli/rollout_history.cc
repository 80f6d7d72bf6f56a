#include "cli/rollout_history.h"

#include <algorithm>
#include <map>

#include "cli/table.h"
#include "operator/desired.h"

namespace hf::cli {
namespace {

using Json = nlohmann::json;

Json* AgentContainer(Json& tmpl) {
  if (!tmpl.contains("spec") || !tmpl["spec"].contains("containers")) return nullptr;
  for (auto& c : tmpl["spec"]["containers"]) {
    if (c.value("name", "") == "agent") return &c;
  }
  return nullptr;
}

// A template with what an image change alters taken out.
Json WithoutImage(Json tmpl) {
  if (tmpl.contains("metadata") && tmpl["metadata"].contains("annotations")) {
    tmpl["metadata"]["annotations"].erase(controller::kTemplateHashAnnotation);
  }
  if (Json* c = AgentContainer(tmpl)) {
    c->erase("image");
    c->erase("imagePullPolicy");
  }
  return tmpl;
}

// The first place two JSON values differ, as a path.
std::string FirstDifference(const Json& a, const Json& b, const std::string& path) {
  if (a.type() != b.type()) return path.empty() ? "/" : path;
  if (a.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      if (!b.contains(it.key())) return path + "/" + it.key();
      std::string d = FirstDifference(it.value(), b[it.key()], path + "/" + it.key());
      if (!d.empty()) return d;
    }
    for (auto it = b.begin(); it != b.end(); ++it) {
      if (!a.contains(it.key())) return path + "/" + it.key();
    }
    return "";
  }
  if (a.is_array()) {
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
      std::string d = FirstDifference(a[i], b[i], path + "/" + std::to_string(i));
      if (!d.empty()) return d;
    }
    return a.size() == b.size() ? "" : path + "/" + std::to_string(std::min(a.size(), b.size()));
  }
  return a == b ? "" : (path.empty() ? "/" : path);
}

}  // namespace

std::vector<Revision> Revisions(const std::vector<Json>& controller_revisions, const std::vector<Json>& agent_pods,
                                const api::RolloutStatus& rollout) {
  std::map<std::string, int> running;
  for (const auto& p : agent_pods) {
    if (!p.value("/metadata/deletionTimestamp"_json_pointer, std::string()).empty()) continue;
    running[p.value("/metadata/annotations"_json_pointer, Json::object())
                .value(controller::kTemplateHashAnnotation, std::string())]++;
  }
  std::vector<Revision> out;
  for (const auto& cr : controller_revisions) {
    Revision r;
    r.number = cr.value("revision", int64_t{0});
    r.created = cr.value("/metadata/creationTimestamp"_json_pointer, std::string());
    r.pod_template = controller::ControllerRevisionTemplate(cr);
    r.hash = controller::TemplateRevision(r.pod_template);
    if (const Json* c = AgentContainer(r.pod_template)) r.image = c->value("image", "");
    r.nodes = running.count(r.hash) != 0 ? running[r.hash] : 0;
    if (!r.hash.empty() && r.hash == rollout.failed_revision) {
      r.state = "failed";
    } else if (!r.hash.empty() && r.hash == rollout.update_revision && rollout.update_revision != rollout.current_revision &&
               rollout.completion_time.empty()) {
      r.state = "rolling out";
    } else if (!r.hash.empty() && r.hash == rollout.current_revision) {
      r.state = "current";
    }
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const Revision& a, const Revision& b) { return a.number < b.number; });
  return out;
}

std::string RenderHistory(const std::string& pool, const std::vector<Revision>& revisions, const std::string& spec_hash) {
  Table table({"REVISION", "TEMPLATE", "IMAGE", "NODES", "STATE", "CREATED"}, /*gap=*/2);
  for (const auto& r : revisions) {
    std::string state = r.state;
    if (r.hash == spec_hash) state += std::string(state.empty() ? "" : ", ") + "spec";
    table.Add({std::to_string(r.number), r.hash, r.image, std::to_string(r.nodes), state.empty() ? "-" : state,
               r.created});
  }
  std::string out = "devicepool/" + pool + " agent revisions (the DaemonSet's ControllerRevisions):\n" +
                    table.Render(false, "");
  if (revisions.empty()) out += "(none yet)\n";
  return out;
}

kube::StatusOr<Revision> UndoTarget(const std::vector<Revision>& revisions, const std::string& spec_hash,
                                    const api::RolloutStatus& rollout, std::optional<int64_t> to) {
  if (to) {
    for (const auto& r : revisions) {
      if (r.number == *to) return r;
    }
    return kube::Status(kube::Reason::kNotFound, "no revision " + std::to_string(*to) + " in the history");
  }
  if (!rollout.current_revision.empty() && rollout.current_revision != spec_hash) {
    for (const auto& r : revisions) {
      if (r.hash == rollout.current_revision) return r;  // the last good one, while another rolls out
    }
  }
  for (auto it = revisions.rbegin(); it != revisions.rend(); ++it) {
    if (it->hash != spec_hash && it->hash != rollout.failed_revision) return *it;
  }
  return kube::Status(kube::Reason::kNotFound, "no earlier revision to go back to");
}

kube::StatusOr<Json> UndoPatch(const Revision& from, const Revision& target) {
  if (from.hash == target.hash) {
    return kube::Status(kube::Reason::kBadRequest, "revision " + std::to_string(target.number) + " is what the spec asks for already");
  }
  std::string diff = FirstDifference(WithoutImage(from.pod_template), WithoutImage(target.pod_template), "");
  if (!diff.empty()) {
    return kube::Status(kube::Reason::kBadRequest,
                        "revision " + std::to_string(target.number) + " differs from the spec's agent in more than the image (first at " +
                            diff + "); restore the pool's spec from where it is kept (e.g. Git)");
  }
  if (target.image.empty()) return kube::Status(kube::Reason::kBadRequest, "revision " + std::to_string(target.number) + " has no agent image");
  return Json{{"spec", {{"agent", {{"image", target.image}}}}}};
}

}  // namespace hf::cli
