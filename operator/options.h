// Options: the operator's command line, parsed and validated with errors that
// name the flag. The chart's Deployment sets these.
//
// Thread-safety: plain values and a pure function.
#ifndef HF_OPERATOR_OPTIONS_H_
#define HF_OPERATOR_OPTIONS_H_

#include <string>
#include <vector>

#include "kube/status.h"
#include "operator/config.h"

namespace hf::controller {

struct Options {
  OperatorConfig config;
  std::string kubeconfig;  // empty: $KUBECONFIG, then in-cluster
  bool leader_elect = false;
  std::string leader_election_id = "hashfoundry-device-operator";
  std::string identity;  // default: $POD_NAME, then the host name
  std::string http_address = ":8080";
  std::string log_level = "info";
  std::string log_format = "text";
  int max_concurrent_reconciles = 4;
  int label_concurrency = 16;
  // No client-side limit by default: labelling is bounded by label_concurrency
  // patches in flight, and the API server's Priority and Fairness queues the
  // rest; 50/s would take 100 s to label 5,000 nodes.
  double qps = 0;
  int burst = 100;
  bool version = false;
  bool help = false;  // --help or -h: print Usage() and exit 0
};

// argv without the program name. Invalid on unknown flags or bad values.
kube::StatusOr<Options> ParseOptions(const std::vector<std::string>& args);

std::string Usage();

}  // namespace hf::controller

#endif  // HF_OPERATOR_OPTIONS_H_
