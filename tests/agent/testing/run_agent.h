// RunAgent: runs the devicepool-agent binary under test (HF_AGENT_BIN) with
// a command line and returns its exit code and combined output, for tests of
// what the binary itself does (flags, --check-config, exit paths).
#ifndef HF_TESTS_AGENT_TESTING_RUN_AGENT_H_
#define HF_TESTS_AGENT_TESTING_RUN_AGENT_H_

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace hf::agent::testing {

struct RunResult {
  int exit_code = -1;
  std::string output;
};

inline RunResult RunAgent(const std::string& args) {
  RunResult r;
  FILE* p = popen((std::string(HF_AGENT_BIN) + " " + args + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace hf::agent::testing

#endif  // HF_TESTS_AGENT_TESTING_RUN_AGENT_H_
