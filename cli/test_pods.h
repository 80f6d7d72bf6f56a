// `kubectl devicepool test POOL`: the seed's test pods
// (config/samples/test-pods.yaml, compiled in) run against a live pool and
// judged from their logs: each got as many devices as it asked for, every
// device's file was there, and no device of a node went to two pods.
//
// Building the pods and judging them are pure functions (unit-tested); the
// command in main.cc creates, waits, reads logs and cleans up.
#ifndef HF_CLI_TEST_PODS_H_
#define HF_CLI_TEST_PODS_H_

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/status.h"

namespace hf::cli {

// The resource name the sample pods ask for; replaced by the pool's.
inline constexpr char kSampleResource[] = "hashfoundry.com/custom-device";

// The sample pods asking for `resource`, their image `image` when not empty.
kube::StatusOr<std::vector<nlohmann::json>> TestPods(const std::string& resource, const std::string& image);

// How many of `resource` the pod's containers ask for in all.
int Requested(const nlohmann::json& pod, const std::string& resource);

struct TestPodResult {
  std::string name, node, phase;
  int requested = 0;
  std::vector<std::string> ids;       // HASHFOUNDRY_DEVICE_IDS from its log
  std::vector<std::string> devices;   // its log's "device ...:" lines
  std::vector<std::string> problems;  // empty when it passed
};

// Judges pods (as read back, with status) by their logs (pod name -> log).
std::vector<TestPodResult> JudgeTestPods(const std::vector<nlohmann::json>& pods,
                                         const std::map<std::string, std::string>& logs,
                                         const std::string& resource);

std::string RenderTestReport(const std::string& pool, const std::vector<TestPodResult>& results);

}  // namespace hf::cli

#endif  // HF_CLI_TEST_PODS_H_
