// HttpServer: the small plain-HTTP endpoint each binary exposes for probes
// and scraping. /healthz and /readyz are always mounted and answer from named
// checks in kube-apiserver's format; MountMetrics adds /metrics; Handle adds
// any other exact path. Built directly on civetweb, which serves each
// connection on one of a fixed number of threads.
//
// Thread-safety: every method may be called from any thread, also while the
// server runs (a handler or check added after Start() serves the next
// request). Handlers and checks run on the server's threads, several at once,
// so they must be thread-safe themselves; they must not call Stop().
#ifndef HF_KUBE_HTTP_SERVER_H_
#define HF_KUBE_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <prometheus/collectable.h>

#include "kube/status.h"
#include "kube/mutex.h"

struct mg_context;
struct mg_connection;

namespace hf::kube {

struct HandlerRequest {
  std::string method;  // "GET", "HEAD", "POST", ...
  std::string path;    // URL-decoded, without the query.
  std::string query;   // as sent, after '?'; empty when there is none.

  // Whether `name` is a query parameter, with or without a value ("?verbose").
  // Compared as sent, not URL-decoded: meant for fixed ASCII names.
  bool HasParam(std::string_view name) const;
};

struct HandlerResponse {
  int code = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HandlerResponse(const HandlerRequest&)>;
// A health or readiness check: ok, or why not (the message is shown).
using HealthCheck = std::function<Status()>;

struct HttpServerOptions {
  // "<ipv4>:<port>", or ":<port>" for every interface. Port 0 picks a free
  // port; read it back with port(). Debian's civetweb is built without IPv6.
  std::string bind_address = ":8080";
  // Each connection holds a thread until answered (keep-alive is off so an
  // idle client cannot hold one longer); probes and scrapes need few.
  int threads = 2;
};

// Whether `address` is a bind_address HttpServer accepts: "<ipv4>:<port>"
// or ":<port>", port 0-65535. For checking a flag before starting.
bool IsBindAddress(std::string_view address);

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();  // Stops the server if it runs.

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving. Invalid when the options are malformed or the
  // server already runs; InternalError with civetweb's reason (e.g. "Address
  // already in use") when it cannot listen.
  Status Start();
  // Stops accepting, lets requests in flight finish, joins the threads.
  // Start() may be called again afterwards.
  void Stop();
  // The bound port while running, 0 otherwise.
  int port() const { return port_.load(); }

  // Serves `path` (exact match, no trailing-slash folding) for `methods`;
  // allowing GET also allows HEAD. Other methods get 405, unknown paths 404.
  // AlreadyExists if the path is taken.
  Status Handle(std::string path, HttpHandler handler,
                std::vector<std::string> methods = {"GET"});

  // Serves the union of `collectables` in the Prometheus text format at
  // `path`. Family names must be unique across them.
  Status MountMetrics(std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
                      std::string path = "/metrics");

  // /healthz (liveness) and /readyz (readiness): 200 "ok" when every check
  // passes; otherwise 500 listing "[+]name ok" / "[-]name failed: reason"
  // lines. "?verbose" lists the lines on success too. Checks run in the order
  // added, on each request. AlreadyExists if the name is taken.
  Status AddHealthCheck(std::string name, HealthCheck check);
  Status AddReadyCheck(std::string name, HealthCheck check);

 private:
  struct Route {
    std::vector<std::string> methods;
    HttpHandler handler;
  };
  using Checks = std::vector<std::pair<std::string, HealthCheck>>;

  // Civetweb callbacks; the server is the context's user data.
  static int OnRequest(mg_connection* conn);
  static int OnLog(const mg_connection* conn, const char* message);

  // Answers one request; returns the status code sent.
  int Serve(mg_connection* conn);
  std::shared_ptr<const Route> FindRoute(const std::string& path) const;
  enum class CheckSet { kHealth, kReady };
  std::shared_ptr<const Checks>& ChecksLocked(CheckSet set) HF_REQUIRES(mu_);
  Status AddCheck(CheckSet set, std::string name, HealthCheck check);
  HandlerResponse ServeChecks(std::string_view endpoint, CheckSet set, const HandlerRequest& request);

  const HttpServerOptions options_;
  std::atomic<int> port_{0};

  // Serialises Start and Stop; never held while serving, since Stop waits
  // for requests in flight.
  Mutex lifecycle_mu_;
  mg_context* ctx_ HF_GUARDED_BY(lifecycle_mu_) = nullptr;
  int listen_fd_ HF_GUARDED_BY(lifecycle_mu_) = -1;  // Civetweb's listening socket

  mutable Mutex mu_;
  // Requests copy the shared_ptr and run unlocked; registration replaces
  // the pointee (copy-on-write), never mutates it.
  std::map<std::string, std::shared_ptr<const Route>> routes_ HF_GUARDED_BY(mu_);
  std::shared_ptr<const Checks> health_checks_ HF_GUARDED_BY(mu_);
  std::shared_ptr<const Checks> ready_checks_ HF_GUARDED_BY(mu_);
  // Civetweb reports why it cannot listen only through its log callback;
  // these lines become Start()'s error.
  bool starting_ HF_GUARDED_BY(mu_) = false;
  std::vector<std::string> start_log_ HF_GUARDED_BY(mu_);
};

}  // namespace hf::kube

#endif  // HF_KUBE_HTTP_SERVER_H_
