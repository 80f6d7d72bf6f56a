#include "kube/manager/signals.h"

#include <signal.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <thread>

namespace hf::kube {

std::stop_source SetupSignalHandler() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::stop_source source;
  std::thread([set, source]() mutable {
    int sig = 0;
    sigwait(&set, &sig);
    spdlog::info("received signal {}, shutting down", sig);
    source.request_stop();
    sigwait(&set, &sig);
    spdlog::warn("second signal {}, exiting now", sig);
    _exit(1);
  }).detach();
  return source;
}

}  // namespace hf::kube
