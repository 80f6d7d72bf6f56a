// HttpGet and FreePort: a bare HTTP/1.0 GET against 127.0.0.1 and a free
// loopback port, for tests of the agent's probe and metrics endpoints.
#ifndef HF_TESTS_AGENT_TESTING_HTTP_GET_H_
#define HF_TESTS_AGENT_TESTING_HTTP_GET_H_

#include <string>

namespace hf::agent::testing {

struct HttpResult {
  int code = 0;  // 0: no answer
  std::string body;
};

HttpResult HttpGet(int port, const std::string& path);

// A port nothing listened on a moment ago.
int FreePort();

}  // namespace hf::agent::testing

#endif  // HF_TESTS_AGENT_TESTING_HTTP_GET_H_
