#include "kube/http/server.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include <curl/curl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

namespace hf::kube {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Reply {
  CURLcode transport = CURLE_OK;
  long code = 0;
  std::string body;
  std::string content_type;
  std::string allow;
};

size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

size_t KeepAllowHeader(char* data, size_t size, size_t count, void* out) {
  const std::string line(data, size * count);
  if (line.rfind("Allow: ", 0) == 0) {
    *static_cast<std::string*>(out) = line.substr(7, line.find_last_not_of("\r\n") - 6);
  }
  return size * count;
}

// A real request over loopback, as the kubelet or Prometheus would send it.
Reply Request(int port, const std::string& target, const std::string& method = "GET") {
  Reply reply;
  CURL* curl = curl_easy_init();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + target;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);  // a hung server fails, not hangs, the test
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &KeepAllowHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply.allow);
  if (method == "POST") curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
  if (method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  reply.transport = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.code);
  char* content_type = nullptr;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &content_type);
  if (content_type != nullptr) reply.content_type = content_type;
  curl_easy_cleanup(curl);
  return reply;
}

// Every line is a comment or "name{labels} value" per the text format 0.0.4.
bool IsPrometheusText(const std::string& body) {
  static const std::regex kSample(
      R"re([a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")re"
      R"re((,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*\})? ([-+]?[0-9.eE+-]+|NaN|[-+]Inf)( -?[0-9]+)?)re");
  static const std::regex kComment(
      R"re(# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* )re"
      R"re((counter|gauge|histogram|summary|untyped)))re");
  std::istringstream lines(body);
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    if (std::regex_match(line, kSample)) {
      ++samples;
    } else if (!std::regex_match(line, kComment)) {
      ADD_FAILURE() << "not Prometheus text: " << line;
      return false;
    }
  }
  return samples > 0;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start().ok()); }

  HttpServer server_{{.bind_address = "127.0.0.1:0", .threads = 2}};
};

TEST_F(HttpServerTest, HealthzIsOkWhenEveryCheckPasses) {
  ASSERT_TRUE(server_.AddHealthCheck("ping", [] { return Status::Ok(); }).ok());
  const Reply reply = Request(server_.port(), "/healthz");
  EXPECT_EQ(reply.code, 200);
  EXPECT_EQ(reply.body, "ok");
  EXPECT_THAT(reply.content_type, StartsWith("text/plain"));
}

TEST_F(HttpServerTest, VerboseListsEveryCheck) {
  ASSERT_TRUE(server_.AddHealthCheck("ping", [] { return Status::Ok(); }).ok());
  ASSERT_TRUE(server_.AddHealthCheck("log", [] { return Status::Ok(); }).ok());
  const Reply reply = Request(server_.port(), "/healthz?verbose");
  EXPECT_EQ(reply.code, 200);
  EXPECT_EQ(reply.body, "[+]ping ok\n[+]log ok\nhealthz check passed\n");
}

TEST_F(HttpServerTest, FailingReadyCheckGives500WithReason) {
  ASSERT_TRUE(server_.AddReadyCheck("ping", [] { return Status::Ok(); }).ok());
  ASSERT_TRUE(server_
                  .AddReadyCheck("informers",
                                 [] { return Status(Reason::kInternalError, "not synced"); })
                  .ok());
  const Reply ready = Request(server_.port(), "/readyz");
  EXPECT_EQ(ready.code, 500);
  EXPECT_EQ(ready.body, "[+]ping ok\n[-]informers failed: not synced\nreadyz check failed\n");
  // Readiness checks do not affect liveness.
  EXPECT_EQ(Request(server_.port(), "/healthz").code, 200);
}

TEST_F(HttpServerTest, CheckAddedWhileRunningIsServed) {
  EXPECT_EQ(Request(server_.port(), "/readyz").code, 200);
  ASSERT_TRUE(server_.AddReadyCheck("cache", [] { return Status(Reason::kTimeout, "syncing"); })
                  .ok());
  EXPECT_EQ(Request(server_.port(), "/readyz").code, 500);
}

TEST_F(HttpServerTest, ConcurrentRegistrationWhileServingLosesNothing) {
  constexpr int kPerThread = 20;
  auto add = [this](const std::string& prefix) {
    for (int i = 0; i < kPerThread; ++i) {
      EXPECT_TRUE(server_.AddHealthCheck(prefix + std::to_string(i), [] { return Status::Ok(); })
                      .ok());
    }
  };
  std::thread a(add, "a");
  std::thread b(add, "b");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Request(server_.port(), "/healthz").code, 200);
  a.join();
  b.join();
  const std::string body = Request(server_.port(), "/healthz?verbose").body;
  EXPECT_EQ(std::count(body.begin(), body.end(), '\n'), 2 * kPerThread + 1) << body;
}

TEST_F(HttpServerTest, RejectsDuplicateAndMalformedCheckNames) {
  ASSERT_TRUE(server_.AddHealthCheck("ping", [] { return Status::Ok(); }).ok());
  EXPECT_TRUE(IsAlreadyExists(server_.AddHealthCheck("ping", [] { return Status::Ok(); })));
  EXPECT_TRUE(IsInvalid(server_.AddHealthCheck("two words", [] { return Status::Ok(); })));
  EXPECT_TRUE(IsInvalid(server_.AddHealthCheck("", [] { return Status::Ok(); })));
}

TEST_F(HttpServerTest, MetricsServesRegistriesAsPrometheusText) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter()
      .Name("hf_test_events_total")
      .Help("Events seen by the test.")
      .Register(*registry)
      .Add({{"kind", "a\"b"}})
      .Increment(3);
  auto other = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter().Name("hf_other_total").Help("Other.").Register(*other).Add({});
  ASSERT_TRUE(server_.MountMetrics({registry, other}).ok());

  const Reply reply = Request(server_.port(), "/metrics");
  EXPECT_EQ(reply.code, 200);
  EXPECT_THAT(reply.content_type, StartsWith("text/plain; version=0.0.4"));
  EXPECT_THAT(reply.body, HasSubstr("hf_test_events_total{kind=\"a\\\"b\"} 3"));
  EXPECT_THAT(reply.body, HasSubstr("hf_other_total 0"));
  EXPECT_TRUE(IsPrometheusText(reply.body)) << reply.body;
}

TEST_F(HttpServerTest, UnknownPathIs404) {
  EXPECT_EQ(Request(server_.port(), "/nope").code, 404);
  EXPECT_EQ(Request(server_.port(), "/healthz/").code, 404);
}

TEST_F(HttpServerTest, WrongMethodIs405WithAllow) {
  const Reply reply = Request(server_.port(), "/healthz", "POST");
  EXPECT_EQ(reply.code, 405);
  EXPECT_EQ(reply.allow, "GET, HEAD");
}

TEST_F(HttpServerTest, HeadAnswersWithoutBody) {
  const Reply reply = Request(server_.port(), "/healthz", "HEAD");
  EXPECT_EQ(reply.transport, CURLE_OK);
  EXPECT_EQ(reply.code, 200);
  EXPECT_EQ(reply.body, "");
}

TEST_F(HttpServerTest, HandlerSeesMethodPathAndQuery) {
  ASSERT_TRUE(server_
                  .Handle(
                      "/echo",
                      [](const HandlerRequest& r) {
                        return HandlerResponse{202, "application/json",
                                            r.method + " " + r.path + " " + r.query + " " +
                                                (r.HasParam("x") ? "x" : "-")};
                      },
                      {"POST"})
                  .ok());
  const Reply reply = Request(server_.port(), "/echo?x=1&y", "POST");
  EXPECT_EQ(reply.code, 202);
  EXPECT_EQ(reply.content_type, "application/json");
  EXPECT_EQ(reply.body, "POST /echo x=1&y x");
  EXPECT_TRUE(IsAlreadyExists(server_.Handle("/echo", [](const HandlerRequest&) {
    return HandlerResponse{};
  })));
  EXPECT_TRUE(IsAlreadyExists(server_.Handle("/healthz", [](const HandlerRequest&) {
    return HandlerResponse{};
  })));
}

TEST_F(HttpServerTest, ThrowingHandlerGives500) {
  ASSERT_TRUE(server_
                  .Handle("/boom",
                          [](const HandlerRequest&) -> HandlerResponse {
                            throw std::runtime_error("boom");
                          })
                  .ok());
  EXPECT_EQ(Request(server_.port(), "/boom").code, 500);
  EXPECT_EQ(Request(server_.port(), "/healthz").code, 200);  // the server survives
}

TEST_F(HttpServerTest, StopThenRequestsFail) {
  const int port = server_.port();
  ASSERT_EQ(Request(port, "/healthz").code, 200);
  const auto before = std::chrono::steady_clock::now();
  server_.Stop();
  // Civetweb alone would take up to its 2 s poll quantum.
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(1));
  EXPECT_EQ(server_.port(), 0);
  EXPECT_EQ(Request(port, "/healthz").transport, CURLE_COULDNT_CONNECT);
  // A stopped server starts again.
  ASSERT_TRUE(server_.Start().ok());
  EXPECT_EQ(Request(server_.port(), "/healthz").code, 200);
}

TEST_F(HttpServerTest, StartTwiceIsInvalid) { EXPECT_TRUE(IsInvalid(server_.Start())); }

TEST(HttpServerStartTest, TwoServersOnPortZeroGetDifferentPorts) {
  HttpServer a({.bind_address = "127.0.0.1:0"});
  HttpServer b({.bind_address = ":0"});  // every interface, loopback included
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  EXPECT_GT(a.port(), 0);
  EXPECT_GT(b.port(), 0);
  EXPECT_NE(a.port(), b.port());
  EXPECT_EQ(Request(b.port(), "/healthz").code, 200);
}

TEST(HttpServerStartTest, TakenPortIsAClearError) {
  HttpServer first({.bind_address = "127.0.0.1:0"});
  ASSERT_TRUE(first.Start().ok());
  const std::string address = "127.0.0.1:" + std::to_string(first.port());
  HttpServer second({.bind_address = address});
  const Status status = second.Start();
  EXPECT_EQ(status.reason(), Reason::kInternalError);
  EXPECT_THAT(status.message(), HasSubstr(address));
  EXPECT_THAT(status.message(), HasSubstr("Address already in use"));
  EXPECT_EQ(second.port(), 0);
}

TEST(HttpServerStartTest, MalformedOptionsAreInvalid) {
  for (const char* address : {"8080", "localhost:8080", "[::1]:0", "127.0.0.1:65536",
                              "127.0.0.1:80s", ":", "127.0.0.1:-1"}) {
    HttpServer server({.bind_address = address});
    const Status status = server.Start();
    EXPECT_TRUE(IsInvalid(status)) << address << ": " << status.ToString();
    EXPECT_THAT(status.message(), HasSubstr(address));
  }
  HttpServer no_threads({.bind_address = "127.0.0.1:0", .threads = 0});
  EXPECT_TRUE(IsInvalid(no_threads.Start()));
}

}  // namespace
}  // namespace hf::kube
