// devicepool-agent: parses flags, sets up logging and signals, picks the
// discovery Scanner and runs the Agent. Exit status: 0 after a clean
// shutdown, 1 when the agent cannot start, 2 for bad flags.
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
  // Before any thread starts: the handler blocks the signals for all threads.
  std::stop_source stop = hf::kube::SetupSignalHandler();
  const hf::agent::Config& config = parsed->config;
  if (hf::kube::Status st = hf::kube::InitLogging({config.log_level, config.log_format, "devicepool-agent"});
      !st.ok()) {
    std::fprintf(stderr, "%s: %s\n", argv[0], st.message().c_str());
    return 2;
  }
  hf::agent::Agent agent(config, NewScanner(config));
  if (hf::kube::Status st = agent.Run(stop.get_token()); !st.ok()) {
    spdlog::error("cannot run: {}", st.message());
    return 1;
  }
  return 0;
}
