#include "tests/testing/cluster.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <fstream>
#include <csignal>
#include <sstream>
#include <thread>

extern char** environ;

namespace hf::testing {
namespace {

namespace fs = std::filesystem;

std::string SourceDir() { return HF_SOURCE_DIR; }
std::string ToolPath() { return SourceDir() + "/tests/cluster/bin/cluster"; }

// Stops the shared cluster when the test binary exits.
class SharedClusterEnvironment : public ::testing::Environment {
 public:
  explicit SharedClusterEnvironment(LocalCluster** slot) : slot_(slot) {}
  void TearDown() override {
    delete *slot_;
    *slot_ = nullptr;
  }

 private:
  LocalCluster** slot_;
};

// argv and the environment (ours with `env` on top) as posix_spawn wants them.
class Argv {
 public:
  Argv(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) : args_(argv) {
    for (char** e = environ; *e != nullptr; ++e) {
      std::string kv(*e);
      if (!env.count(kv.substr(0, kv.find('=')))) env_.push_back(kv);
    }
    for (const auto& [k, v] : env) env_.push_back(k + "=" + v);
    for (auto& a : args_) argv_.push_back(a.data());
    argv_.push_back(nullptr);
    for (auto& e : env_) envp_.push_back(e.data());
    envp_.push_back(nullptr);
  }
  char* const* argv() { return argv_.data(); }
  char* const* envp() { return envp_.data(); }

 private:
  std::vector<std::string> args_, env_;
  std::vector<char*> argv_, envp_;
};

}  // namespace

CommandResult Run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  CommandResult result;
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    result.output = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  Argv spawn(argv, env);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, spawn.argv()[0], &actions, nullptr, spawn.argv(), spawn.envp());
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    result.output = "cannot start " + argv[0] + ": " + std::strerror(rc);
    return result;
  }
  char buf[4096];
  for (;;) {
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n > 0) {
      result.output.append(buf, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  close(out[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

LocalCluster& LocalCluster::Shared() {
  static LocalCluster* shared = nullptr;
  if (shared != nullptr) return *shared;
  if (const char* dir = std::getenv("HF_CLUSTER_DIR"); dir != nullptr && *dir != '\0') {
    shared = new LocalCluster(dir, /*owned=*/false);
    shared->LoadEnv();
    return *shared;
  }
  std::string dir = (fs::temp_directory_path() / ("hf-cluster-" + std::to_string(getpid()))).string();
  auto started = Start(dir);
  shared = started.release();
  ::testing::AddGlobalTestEnvironment(new SharedClusterEnvironment(&shared));
  return *shared;
}

std::unique_ptr<LocalCluster> LocalCluster::Start(const std::string& dir,
                                                  const std::vector<std::string>& apiserver_args) {
  std::vector<std::string> argv{ToolPath(), "up", dir};
  for (const auto& a : apiserver_args) argv.push_back("--apiserver-arg=" + a);
  CommandResult r = Run(argv);
  if (r.exit_code != 0) {
    std::fprintf(stderr, "cluster up %s failed (exit %d):\n%s\n", dir.c_str(), r.exit_code, r.output.c_str());
    std::abort();
  }
  std::unique_ptr<LocalCluster> c(new LocalCluster(dir, /*owned=*/true));
  c->LoadEnv();
  return c;
}

LocalCluster::~LocalCluster() {
  if (!owned_) return;
  CommandResult r = Run({ToolPath(), "down", dir_});
  if (r.exit_code != 0) std::fprintf(stderr, "cluster down %s: %s\n", dir_.c_str(), r.output.c_str());
  else fs::remove_all(dir_);
}

void LocalCluster::LoadEnv() {
  std::ifstream in(dir_ + "/env");
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) env_[line.substr(0, eq)] = line.substr(eq + 1);
  }
}

std::string LocalCluster::Env(const std::string& key) const {
  auto it = env_.find(key);
  return it == env_.end() ? "" : it->second;
}

kube::RestConfig LocalCluster::AdminConfig() const {
  auto cfg = kube::LoadKubeconfig(kubeconfig());
  if (!cfg.ok()) {
    ADD_FAILURE() << "admin kubeconfig: " << cfg.status().ToString();
    return {};
  }
  return *cfg;
}

std::unique_ptr<kube::Client> LocalCluster::AdminClient() const {
  return std::make_unique<kube::Client>(kube::NewCurlTransport(AdminConfig()));
}

CommandResult LocalCluster::Kubectl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{Env("HF_KUBECTL"), "--kubeconfig", kubeconfig()};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(argv);
}

CommandResult LocalCluster::Tool(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{ToolPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(argv);
}

std::string LocalCluster::ServiceAccountKubeconfig(const std::string& ns, const std::string& sa) const {
  std::string out = dir_ + "/sa-" + ns + "-" + sa + ".kubeconfig";
  CommandResult r = Tool({"sa-kubeconfig", dir_, "--namespace", ns, "--serviceaccount", sa, "--out", out});
  if (r.exit_code != 0) ADD_FAILURE() << "sa-kubeconfig: " << r.output;
  return out;
}

std::unique_ptr<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv, const std::string& log_path,
                                                  const std::map<std::string, std::string>& env) {
  Argv spawn(argv, env);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, spawn.argv()[0], &actions, nullptr, spawn.argv(), spawn.envp());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ADD_FAILURE() << "cannot start " << argv[0] << ": " << std::strerror(rc);
    return nullptr;
  }
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, log_path));
}

ChildProcess::~ChildProcess() {
  if (Running()) {
    Signal(SIGKILL);
    Wait();
  }
}

bool ChildProcess::Running() {
  if (exited_) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return r == 0;
}

void ChildProcess::Signal(int sig) {
  if (!exited_) kill(pid_, sig);
}

int ChildProcess::Wait(std::chrono::milliseconds timeout) {
  if (!Eventually([&] { return !Running(); }, timeout, std::chrono::milliseconds(20))) return -1;
  return exit_code_;
}

std::string ChildProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

kube::Json At(const kube::Json& j, std::initializer_list<const char*> path) {
  const kube::Json* cur = &j;
  for (const char* k : path) {
    if (cur->is_array()) {
      // "0", "1", ...: an index into a list.
      char* end = nullptr;
      unsigned long i = std::strtoul(k, &end, 10);
      if (*k == '\0' || *end != '\0' || i >= cur->size()) return kube::Json();
      cur = &(*cur)[i];
      continue;
    }
    if (!cur->is_object() || !cur->contains(k)) return kube::Json();
    cur = &(*cur)[k];
  }
  return *cur;
}

int IntAt(const kube::Json& j, std::initializer_list<const char*> path) {
  kube::Json v = At(j, path);
  return v.is_number_integer() ? v.get<int>() : 0;
}

std::string StringAt(const kube::Json& j, std::initializer_list<const char*> path) {
  kube::Json v = At(j, path);
  return v.is_string() ? v.get<std::string>() : "";
}

std::string UniqueName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(counter.fetch_add(1));
}

bool Eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);  // poll interval of a bounded wait-until
  }
}

std::vector<int> ProcessTree(int root) {
  std::map<int, std::vector<int>> children;
  DIR* d = opendir("/proc");
  if (d == nullptr) return {root};
  while (dirent* e = readdir(d)) {
    int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream in("/proc/" + std::string(e->d_name) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    children[ppid].push_back(pid);
  }
  closedir(d);
  std::vector<int> out{root};
  for (size_t i = 0; i < out.size(); ++i) {
    for (int c : children[out[i]]) out.push_back(c);
  }
  return out;
}

}  // namespace hf::testing
