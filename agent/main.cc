// devicepool-agent: parses flags, sets up logging and signals, picks the
// discovery Scanner and runs the Agent. Exit status: 0 after a clean
// shutdown (or a good --check-config), 1 when the agent cannot start, 2 for
// bad flags. A fatal error also goes to the termination log, so that
// `kubectl describe pod` shows why the agent stopped.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/paths_scanner.h"
#include "agent/pci_scanner.h"
#include "agent/simulated_scanner.h"
#include "agent/version.h"
#include "kube/log/logging.h"
#include "kube/manager/signals.h"

namespace {

std::unique_ptr<hf::agent::Scanner> NewScanner(const hf::agent::Config& c) {
  switch (c.discovery) {
    case hf::agent::DiscoveryMode::kPaths:
      return std::make_unique<hf::agent::PathsScanner>(c.dev_root, c.sys_root, c.path_globs);
    case hf::agent::DiscoveryMode::kPci:
      return std::make_unique<hf::agent::PciScanner>(c.dev_root, c.sys_root, c.pci_vendor, c.pci_devices);
    case hf::agent::DiscoveryMode::kSimulated:
      break;
  }
  return std::make_unique<hf::agent::SimulatedScanner>(c.dev_root, c.sys_root, c.simulated_prefix,
                                                       c.simulated_count);
}

// Writes `message` as the one-line termination message. The default path is written
// only if it exists: Kubernetes creates it in a container, and outside one
// the agent must not leave a file in the host's /dev. Failures are ignored:
// the message is on stderr too.
void WriteTerminationLog(const hf::agent::TerminationLog& log, const std::string& message) {
  int flags = O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY | (log.explicit_path ? O_CREAT : 0);
  int fd = open(log.path.c_str(), flags, 0644);
  if (fd < 0) return;
  std::string line = message;
  std::replace(line.begin(), line.end(), '\n', ' ');
  line += "\n";
  (void)!write(fd, line.data(), line.size());
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = hf::agent::ParseFlags(args, [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  });
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s: %s\nRun '%s --help' for the flags.\n", argv[0], parsed.status().message().c_str(),
                 argv[0]);
    if (std::find(args.begin(), args.end(), "--check-config") == args.end()) {
      WriteTerminationLog(hf::agent::FindTerminationLog(args), "bad flags: " + parsed.status().message());
    }
    return 2;
  }
  if (parsed->action == hf::agent::Action::kHelp) {
    std::fputs(hf::agent::Usage().c_str(), stdout);
    return 0;
  }
  if (parsed->action == hf::agent::Action::kVersion) {
    std::printf("%s %s\n", hf::agent::kAgentName.data(), hf::agent::kAgentVersion.data());
    return 0;
  }
  if (parsed->action == hf::agent::Action::kCheckConfig) {
    std::puts("config ok");
    return 0;
  }
  const hf::agent::Config& config = parsed->config;
  const hf::agent::TerminationLog termination_log{config.termination_log,
                                                  config.termination_log != hf::agent::kDefaultTerminationLog};
  // The logger first: the signal thread logs through it, and replacing the
  // default logger while another thread may log is a data race (TSan).
  if (hf::kube::Status st = hf::kube::InitLogging({config.log_level, config.log_format, "devicepool-agent"});
      !st.ok()) {
    std::fprintf(stderr, "%s: %s\n", argv[0], st.message().c_str());
    WriteTerminationLog(termination_log, "bad flags: " + st.message());
    return 2;
  }
  // Before any other thread starts: the handler blocks the signals for all
  // threads.
  std::stop_source stop = hf::kube::SetupSignalHandler();
  hf::agent::Agent agent(config, NewScanner(config));
  if (hf::kube::Status st = agent.Run(stop.get_token()); !st.ok()) {
    spdlog::error("cannot run: {}", st.message());
    WriteTerminationLog(termination_log, "cannot run: " + st.message());
    return 1;
  }
  return 0;
}
