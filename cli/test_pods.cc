#include "cli/test_pods.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "cli/test_pods_yaml.h"
#include "kube/yaml_json.h"

namespace hf::cli {
namespace {

using Json = nlohmann::json;

void RenameResource(Json& resources, const std::string& resource) {
  for (const char* kind : {"limits", "requests"}) {
    if (!resources.contains(kind) || !resources[kind].contains(kSampleResource)) continue;
    Json v = resources[kind][kSampleResource];
    resources[kind].erase(kSampleResource);
    resources[kind][resource] = v;
  }
}

int ToInt(const Json& v) {
  if (v.is_number_integer()) return v.get<int>();
  if (v.is_string()) {
    try {
      return std::stoi(v.get<std::string>());
    } catch (...) {
    }
  }
  return 0;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, sep);) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

std::string Condition(const Json& pod, const char* type, const char* field) {
  if (!pod.contains("status") || !pod["status"].contains("conditions")) return "";
  for (const auto& c : pod["status"]["conditions"]) {
    if (c.value("type", "") == type) return c.value(field, "");
  }
  return "";
}

}  // namespace

kube::StatusOr<std::vector<Json>> TestPods(const std::string& resource, const std::string& image) {
  auto docs = kube::YamlDocumentsToJson(kTestPodsYaml);
  if (!docs.ok()) return docs.status();
  std::vector<Json> pods;
  for (Json& doc : *docs) {
    if (doc.value("kind", "") == "List" && doc.contains("items")) {
      for (Json& item : doc["items"]) pods.push_back(std::move(item));
    } else {
      pods.push_back(std::move(doc));
    }
  }
  for (Json& pod : pods) {
    for (Json& c : pod["spec"]["containers"]) {
      if (!image.empty()) c["image"] = image;
      if (c.contains("resources")) RenameResource(c["resources"], resource);
    }
  }
  return pods;
}

int Requested(const Json& pod, const std::string& resource) {
  int n = 0;
  if (!pod.contains("spec") || !pod["spec"].contains("containers")) return 0;
  for (const auto& c : pod["spec"]["containers"]) {
    if (!c.contains("resources")) continue;
    const Json& r = c["resources"];
    if (r.contains("limits") && r["limits"].contains(resource)) {
      n += ToInt(r["limits"][resource]);
    } else if (r.contains("requests") && r["requests"].contains(resource)) {
      n += ToInt(r["requests"][resource]);
    }
  }
  return n;
}

std::vector<TestPodResult> JudgeTestPods(const std::vector<Json>& pods, const std::map<std::string, std::string>& logs,
                                         const std::string& resource) {
  std::vector<TestPodResult> out;
  std::map<std::pair<std::string, std::string>, std::string> owner;  // (node, device id) -> pod
  for (const auto& pod : pods) {
    TestPodResult r;
    r.name = pod.value("/metadata/name"_json_pointer, std::string());
    r.node = pod.value("/spec/nodeName"_json_pointer, std::string());
    r.phase = pod.value("/status/phase"_json_pointer, std::string());
    r.requested = Requested(pod, resource);
    auto log = logs.find(r.name);
    if (log != logs.end()) {
      for (const auto& line : Split(log->second, '\n')) {
        if (line.rfind("HASHFOUNDRY_DEVICE_IDS=", 0) == 0) r.ids = Split(line.substr(23), ',');
        if (line.rfind("device ", 0) == 0) r.devices.push_back(line);
      }
    }
    if (r.phase == "Failed") {
      r.problems.push_back("ended Failed (the script exits 1 when a device is missing)");
    } else if (r.phase != "Succeeded") {
      std::string why = r.phase == "Pending" ? Condition(pod, "PodScheduled", "message") : "";
      r.problems.push_back("still " + (r.phase.empty() ? std::string("without a phase") : r.phase) +
                           " after --timeout" + (why.empty() ? std::string() : ": " + why));
    }
    if ((r.phase == "Succeeded" || r.phase == "Failed") && log == logs.end()) r.problems.push_back("no log");
    if (log != logs.end() && static_cast<int>(r.ids.size()) != r.requested) {
      r.problems.push_back("asked for " + std::to_string(r.requested) + " devices, got " +
                           std::to_string(r.ids.size()) + " in HASHFOUNDRY_DEVICE_IDS");
    }
    for (const auto& line : r.devices) {
      if (line.find("MISSING") != std::string::npos) r.problems.push_back(line);
    }
    for (const auto& id : r.ids) {
      auto [it, fresh] = owner.emplace(std::make_pair(r.node, id), r.name);  // ids are per node
      if (!fresh) r.problems.push_back("device " + id + " was also given to " + it->second);
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::string RenderTestReport(const std::string& pool, const std::vector<TestPodResult>& results) {
  std::string out;
  int failed = 0;
  for (const auto& r : results) {
    std::string ids;
    for (const auto& id : r.ids) ids += (ids.empty() ? "" : ",") + id;
    out += (r.problems.empty() ? "PASS " : "FAIL ") + r.name + " on " + (r.node.empty() ? "(no node)" : r.node) +
           ": asked for " + std::to_string(r.requested) + ", got " + (ids.empty() ? "none" : ids) + "\n";
    for (const auto& d : r.devices) out += "       " + d + "\n";
    for (const auto& p : r.problems) out += "       problem: " + p + "\n";
    if (!r.problems.empty()) ++failed;
  }
  out += "devicepool/" + pool + ": " +
         (failed == 0 ? "test passed: every pod got its devices, each device once, every file in place"
                      : std::to_string(failed) + " of " + std::to_string(results.size()) + " test pods failed") +
         "\n";
  return out;
}

}  // namespace hf::cli
