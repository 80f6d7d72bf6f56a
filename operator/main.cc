// devicepool-operator: reconciles DevicePools into node labels, agent
// DaemonSets, RBAC, Services and monitoring objects.
#include <cstdio>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "kube/log/logging.h"
#include "kube/manager/signals.h"
#include "operator/options.h"
#include "operator/run.h"

#ifndef HF_VERSION
#define HF_VERSION "dev"
#endif

int main(int argc, char** argv) {
  auto opts = hf::controller::ParseOptions(std::vector<std::string>(argv + 1, argv + argc));
  if (!opts.ok()) {
    std::fprintf(stderr, "devicepool-operator: %s\n\n%s", opts.status().message().c_str(),
                 hf::controller::Usage().c_str());
    return 2;
  }
  if (opts->help) {
    std::printf("%s", hf::controller::Usage().c_str());
    return 0;
  }
  if (opts->version) {
    std::printf("devicepool-operator %s\n", HF_VERSION);
    return 0;
  }
  if (auto st = hf::kube::InitLogging({opts->log_level, opts->log_format, "devicepool-operator"}); !st.ok()) {
    std::fprintf(stderr, "devicepool-operator: %s\n", st.message().c_str());
    return 2;
  }
  // After the logger (the signal thread logs through it), before any other
  // thread: the handler blocks the signals for all threads.
  std::stop_source stop = hf::kube::SetupSignalHandler();
  hf::kube::Status st = hf::controller::RunOperator(*opts, stop.get_token());
  if (!st.ok()) {
    spdlog::error("devicepool-operator: {}", st.ToString());
    return 1;
  }
  spdlog::info("devicepool-operator stopped");
  return 0;
}
