// Agent: one node's devicepool-agent for one pool, wired together. Run scans
// the devices, serves them to the kubelet on the device plugin socket,
// registers (and re-registers) with the kubelet, keeps the DevicePoolNode
// report current, writes the CDI spec when asked to, and serves /healthz,
// /readyz and /metrics, until `stop` is requested; then it stops serving
// the kubelet and removes its socket, leaving the devices alone unless its
// pool was deleted (host_cleanup.h).
//
// Readiness: registered with the kubelet, and a discovery scan succeeded
// (finding zero devices counts).
//
// Its timing (intervals, backoff, resyncs, the report's timestamps) is on
// the one kube::Clock given. Network timeouts (gRPC deadlines, the HTTP
// client's) and the credentials kube::LoadConfig makes stay on real time.
//
// Thread-safety: Run once, from one thread; WaitUntilReady from any thread.
#ifndef HF_AGENT_AGENT_H_
#define HF_AGENT_AGENT_H_

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stop_token>

#include "agent/config.h"
#include "agent/scanner.h"
#include "kube/clock.h"
#include "kube/status.h"
#include "kube/mutex.h"

namespace hf::agent {

class Agent {
 public:
  Agent(Config config, std::unique_ptr<Scanner> scanner, kube::Clock& clock = kube::DefaultClock());

  // Blocks until `stop`. An error when the agent cannot start at all (the
  // HTTP address is taken, inotify is unavailable).
  kube::Status Run(std::stop_token stop);

  // Blocks until the agent is ready or `timeout` passes; returns whether it
  // is. For callers that run the agent on another thread. The timeout is
  // the caller's bound, in real time, not on the agent's clock.
  bool WaitUntilReady(std::chrono::milliseconds timeout);

 private:
  kube::Status RunDevicePlugin(std::stop_token stop);
  // The same inventory served as a DRA driver (dra_plugin.h): ResourceSlices
  // instead of ListAndWatch, prepared claims instead of Allocate.
  kube::Status RunDra(std::stop_token stop);
  void SetReady(bool ready);

  const Config config_;
  std::unique_ptr<Scanner> scanner_;
  kube::Clock& clock_;

  kube::Mutex mu_;
  std::condition_variable ready_changed_;
  bool ready_ HF_GUARDED_BY(mu_) = false;
};

}  // namespace hf::agent

#endif  // HF_AGENT_AGENT_H_
