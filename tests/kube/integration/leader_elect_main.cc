// hf_leader_elect_probe: one leader-election candidate in its own process, so
// the integration tests can hand leadership over between processes and kill
// a leader outright.
//
//   hf_leader_elect_probe KUBECONFIG NAMESPACE LEASE IDENTITY
//
// Stdout carries one line per fact: "LEADER <identity>" when it sees a new
// holder, "LEADING" once it leads. SIGTERM or SIGINT stops it and releases
// the Lease (exit 0); losing leadership exits 1. Logs go to stderr.
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <stop_token>
#include <string>
#include <thread>

#include "kube/leaderelection/leader_elector.h"
#include "kube/log/logging.h"
#include "kube/rest/config.h"
#include "kube/rest/transport.h"

namespace {

// One write per line, so lines from different threads never interleave.
void Say(const std::string& line) {
  const std::string out = line + "\n";
  if (write(STDOUT_FILENO, out.data(), out.size()) < 0) std::perror("write");
}

}  // namespace

int main(int argc, char** argv) {
  using hf::kube::Client;
  using hf::kube::LeaderElectionConfig;
  using hf::kube::LeaderElector;
  using hf::kube::Status;
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s KUBECONFIG NAMESPACE LEASE IDENTITY\n", argv[0]);
    return 2;
  }
  // Blocked in every thread (they inherit the mask); one thread takes them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  if (Status st = hf::kube::InitLogging({"info", "text", "hf_leader_elect_probe"}); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 2;
  }
  auto rest = hf::kube::LoadKubeconfig(argv[1]);
  if (!rest.ok()) {
    std::fprintf(stderr, "kubeconfig: %s\n", rest.status().ToString().c_str());
    return 2;
  }
  Client client(hf::kube::NewCurlTransport(*rest));

  LeaderElectionConfig config;
  config.namespace_ = argv[2];
  config.name = argv[3];
  config.identity = argv[4];
  config.lease_duration = seconds(4);
  config.renew_deadline = seconds(3);
  config.retry_period = milliseconds(500);
  config.callbacks.on_started_leading = [](std::stop_token) { Say("LEADING"); };
  config.callbacks.on_stopped_leading = [] { Say("STOPPED"); };
  config.callbacks.on_new_leader = [](const std::string& id) { Say("LEADER " + id); };
  auto elector = LeaderElector::New(client, std::move(config));
  if (!elector.ok()) {
    std::fprintf(stderr, "%s\n", elector.status().ToString().c_str());
    return 2;
  }

  std::stop_source stop;
  std::thread signals([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    stop.request_stop();
  });
  (*elector)->Run(stop.get_token());
  const bool stopped = stop.stop_requested();
  // Lost leadership: wake the signal thread ourselves so it can be joined.
  if (!stopped) kill(getpid(), SIGTERM);
  signals.join();
  return stopped ? 0 : 1;
}
