// LocalCluster: a real control plane for integration tests, from
// tests/cluster (etcd, kube-apiserver with RBAC, controller-manager,
// scheduler). Tests share one per process through LocalCluster::Shared():
// CTest starts it once for all integration tests and passes HF_CLUSTER_DIR;
// a test binary run by hand starts its own and stops it at exit.
//
// Also: Eventually, the bounded wait-until integration tests synchronise with,
// and null-safe JSON path lookups for polling objects.
#ifndef HF_TESTS_TESTING_CLUSTER_H_
#define HF_TESTS_TESTING_CLUSTER_H_

#include <chrono>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kube/rest/client.h"
#include "kube/rest/config.h"

namespace hf::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, interleaved
};

// Runs argv (no shell), capturing output.
CommandResult Run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});

class LocalCluster {
 public:
  // The process-wide cluster; aborts the test binary with the reason if it
  // cannot be had.
  static LocalCluster& Shared();

  // Starts a private cluster in `dir` with extra kube-apiserver flags.
  static std::unique_ptr<LocalCluster> Start(const std::string& dir,
                                             const std::vector<std::string>& apiserver_args = {});
  ~LocalCluster();

  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  const std::string& dir() const { return dir_; }
  std::string kubeconfig() const { return dir_ + "/admin.kubeconfig"; }
  std::string Env(const std::string& key) const;

  kube::RestConfig AdminConfig() const;
  std::unique_ptr<kube::Client> AdminClient() const;

  // kubectl with the admin kubeconfig.
  CommandResult Kubectl(const std::vector<std::string>& args) const;
  // A kubeconfig for a ServiceAccount through TokenRequest (the SA must exist).
  std::string ServiceAccountKubeconfig(const std::string& ns, const std::string& sa) const;
  // The tests/cluster tool.
  CommandResult Tool(const std::vector<std::string>& args) const;

 private:
  LocalCluster(std::string dir, bool owned) : dir_(std::move(dir)), owned_(owned) {}
  void LoadEnv();

  std::string dir_;
  bool owned_;  // started by us, so stopped by us
  std::map<std::string, std::string> env_;
};

// A long-running child process (an operator, an agent) with its output in a
// log file; killed (SIGKILL) on destruction if still running.
class ChildProcess {
 public:
  static std::unique_ptr<ChildProcess> Start(const std::vector<std::string>& argv, const std::string& log_path,
                                             const std::map<std::string, std::string>& env = {});
  ~ChildProcess();
  int pid() const { return pid_; }
  bool Running();
  void Signal(int sig);
  // Waits for exit (bounded); returns the exit code, or -1 on timeout.
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  const std::string& log_path() const { return log_path_; }
  std::string Log() const;

 private:
  ChildProcess(int pid, std::string log) : pid_(pid), log_path_(std::move(log)) {}
  int pid_;
  std::string log_path_;
  int exit_code_ = -1;
  bool exited_ = false;
};

// j[a][b]... or null when any step is missing, so polls never throw; a step
// "0", "1", ... indexes a list.
kube::Json At(const kube::Json& j, std::initializer_list<const char*> path);
// The int, or string, at that path; 0 or "" when absent or of another type.
int IntAt(const kube::Json& j, std::initializer_list<const char*> path);
std::string StringAt(const kube::Json& j, std::initializer_list<const char*> path);

// The pid and every descendant of it, from /proc.
std::vector<int> ProcessTree(int root);

// A name unique to this process and call, for namespaces and objects.
std::string UniqueName(const std::string& prefix);

// Polls `cond` until it is true or `timeout` passes; returns the last result.
// Integration tests only: unit tests use fake clocks.
bool Eventually(const std::function<bool()>& cond,
                std::chrono::milliseconds timeout = std::chrono::seconds(30),
                std::chrono::milliseconds poll = std::chrono::milliseconds(50));

}  // namespace hf::testing

#endif  // HF_TESTS_TESTING_CLUSTER_H_
