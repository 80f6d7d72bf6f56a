#include "kube/http/server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <iterator>

#include <civetweb.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

namespace hf::kube {
namespace {

constexpr char kTextPlain[] = "text/plain; charset=utf-8";
constexpr char kPrometheusText[] = "text/plain; version=0.0.4; charset=utf-8";

// A parsed bind address: civetweb's listening_ports value, and the IPv4
// address it binds (INADDR_ANY for ":<port>").
struct BindAddress {
  std::string listening_ports;
  in_addr host;
};

// Accepts "<ipv4>:<port>" / ":<port>" only, refusing civetweb's own
// extensions (lists, "s"/"r" suffixes, "+" for IPv6).
StatusOr<BindAddress> ParseBindAddress(std::string_view address) {
  auto invalid = [&](std::string_view why) {
    return Status(Reason::kInvalid,
                  "bind address \"" + std::string(address) + "\": " + std::string(why));
  };
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return invalid("want <ipv4>:<port> or :<port>");
  const std::string host(address.substr(0, colon));
  const std::string_view port_text = address.substr(colon + 1);
  int port = -1;
  const char* end = port_text.data() + port_text.size();
  auto [parsed_end, ec] = std::from_chars(port_text.data(), end, port);
  if (ec != std::errc() || parsed_end != end || port < 0 || port > 65535) {
    return invalid("port must be a number from 0 to 65535");
  }
  BindAddress parsed{.listening_ports = std::to_string(port), .host = {htonl(INADDR_ANY)}};
  if (host.empty()) return parsed;
  if (inet_pton(AF_INET, host.c_str(), &parsed.host) != 1) {
    return invalid("host must be empty or an IPv4 literal (no names; civetweb has no IPv6 here)");
  }
  parsed.listening_ports = host + ":" + parsed.listening_ports;
  return parsed;
}

}  // namespace

bool IsBindAddress(std::string_view address) { return ParseBindAddress(address).ok(); }

namespace {

// The descriptor of the socket listening on host:port, or -1. Civetweb does
// not expose it; the kernel allows only one such socket (civetweb sets no
// SO_REUSEPORT), so the address identifies civetweb's.
int FindListeningSocket(in_addr host, int port) {
  DIR* fds = opendir("/proc/self/fd");
  if (fds == nullptr) return -1;
  int found = -1;
  while (const dirent* entry = readdir(fds)) {
    int fd = -1;
    const std::string_view name = entry->d_name;
    if (std::from_chars(name.data(), name.data() + name.size(), fd).ec != std::errc()) continue;
    int listening = 0;
    socklen_t size = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) != 0 || !listening) continue;
    sockaddr_in bound{};
    size = sizeof(bound);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &size) == 0 &&
        bound.sin_family == AF_INET && ntohs(bound.sin_port) == port &&
        bound.sin_addr.s_addr == host.s_addr) {
      found = fd;
    }
  }
  closedir(fds);
  return found;
}

std::string Join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const std::string& part : parts) {
    if (!out.empty()) out += separator;
    out += part;
  }
  return out;
}

void Write(mg_connection* conn, const HandlerRequest& request, const HandlerResponse& response,
           const std::string& allow = "") {
  mg_response_header_start(conn, response.code);
  mg_response_header_add(conn, "Content-Type", response.content_type.c_str(), -1);
  mg_response_header_add(conn, "Content-Length", std::to_string(response.body.size()).c_str(),
                         -1);
  // Bodies are plain text; keep browsers from guessing otherwise.
  mg_response_header_add(conn, "X-Content-Type-Options", "nosniff", -1);
  if (!allow.empty()) mg_response_header_add(conn, "Allow", allow.c_str(), -1);
  mg_response_header_send(conn);
  if (request.method != "HEAD") mg_write(conn, response.body.data(), response.body.size());
}

}  // namespace

bool HandlerRequest::HasParam(std::string_view name) const {
  std::string_view rest = query;
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.substr(0, pair.find('=')) == name) return true;
  }
  return false;
}

HttpServer::HttpServer(HttpServerOptions options)
    : options_(std::move(options)),
      health_checks_(std::make_shared<Checks>()),
      ready_checks_(std::make_shared<Checks>()) {
  routes_["/healthz"] = std::make_shared<const Route>(Route{
      {"GET"}, [this](const HandlerRequest& r) { return ServeChecks("healthz", CheckSet::kHealth, r); }});
  routes_["/readyz"] = std::make_shared<const Route>(Route{
      {"GET"}, [this](const HandlerRequest& r) { return ServeChecks("readyz", CheckSet::kReady, r); }});
}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
  MutexLock lifecycle(lifecycle_mu_);
  if (ctx_ != nullptr) return Status(Reason::kInvalid, "http server already started");
  if (options_.threads < 1) return Status(Reason::kInvalid, "http server needs at least 1 thread");
  StatusOr<BindAddress> address = ParseBindAddress(options_.bind_address);
  if (!address.ok()) return address.status();

  // Civetweb wants this before first use; it is process-wide and never undone.
  [[maybe_unused]] static const unsigned kFeatures = mg_init_library(0);

  const std::string threads = std::to_string(options_.threads);
  const char* config[] = {
      "listening_ports", address->listening_ports.c_str(),
      "num_threads", threads.c_str(),
      "enable_keep_alive", "no",
      // A stalled client holds one of few threads; probes time out sooner anyway.
      "request_timeout_ms", "10000",
      nullptr,
  };
  mg_callbacks callbacks{};
  // begin_request rather than mg_set_request_handler: it is in place before
  // the first connection is accepted, so no request sees a half-set-up server.
  callbacks.begin_request = &HttpServer::OnRequest;
  callbacks.log_message = &HttpServer::OnLog;
  mg_init_data init{&callbacks, this, config};
  char error_text[256] = "";
  unsigned error_code = 0;
  mg_error_data error{&error_code, error_text, sizeof(error_text)};

  {
    MutexLock l(mu_);
    starting_ = true;
  }
  mg_context* ctx = mg_start2(&init, &error);
  std::vector<std::string> log;
  {
    MutexLock l(mu_);
    starting_ = false;
    log.swap(start_log_);
  }
  if (ctx == nullptr) {
    return Status(Reason::kInternalError, "http server on " + options_.bind_address + ": " +
                                              (log.empty() ? error_text : Join(log, "; ")));
  }
  mg_server_port bound[1];
  if (mg_get_server_ports(ctx, 1, bound) < 1) {
    mg_stop(ctx);
    return Status(Reason::kInternalError, "http server on " + options_.bind_address +
                                              ": civetweb reports no listening port");
  }
  ctx_ = ctx;
  listen_fd_ = FindListeningSocket(address->host, bound[0].port);
  port_ = bound[0].port;
  spdlog::info("http server listening on port {}", bound[0].port);
  return Status::Ok();
}

void HttpServer::Stop() {
  MutexLock lifecycle(lifecycle_mu_);
  if (ctx_ == nullptr) return;
  port_ = 0;
  // Civetweb 1.15's accept loop checks its stop flag only between 2 s polls,
  // so mg_stop alone takes up to 2 s. A shut-down listener ends the poll at
  // once and refuses new connections; mg_stop then lets requests in flight
  // finish, joins the threads and closes the socket.
  if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
  mg_stop(ctx_);
  ctx_ = nullptr;
  listen_fd_ = -1;
}

Status HttpServer::Handle(std::string path, HttpHandler handler,
                          std::vector<std::string> methods) {
  if (path.empty() || path.front() != '/') {
    return Status(Reason::kInvalid, "http path \"" + path + "\" must start with /");
  }
  MutexLock l(mu_);
  auto [it, inserted] = routes_.try_emplace(path);
  if (!inserted) return Status(Reason::kAlreadyExists, "http path " + path + " is already handled");
  it->second = std::make_shared<const Route>(Route{std::move(methods), std::move(handler)});
  return Status::Ok();
}

Status HttpServer::MountMetrics(std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
                                std::string path) {
  if (std::find(collectables.begin(), collectables.end(), nullptr) != collectables.end()) {
    return Status(Reason::kInvalid, "metrics collectable must not be null");
  }
  return Handle(std::move(path), [collectables = std::move(collectables)](const HandlerRequest&) {
    std::vector<prometheus::MetricFamily> families;
    for (const auto& collectable : collectables) {
      std::vector<prometheus::MetricFamily> more = collectable->Collect();
      families.insert(families.end(), std::make_move_iterator(more.begin()),
                      std::make_move_iterator(more.end()));
    }
    return HandlerResponse{200, kPrometheusText, prometheus::TextSerializer().Serialize(families)};
  });
}

Status HttpServer::AddHealthCheck(std::string name, HealthCheck check) {
  return AddCheck(CheckSet::kHealth, std::move(name), std::move(check));
}

Status HttpServer::AddReadyCheck(std::string name, HealthCheck check) {
  return AddCheck(CheckSet::kReady, std::move(name), std::move(check));
}

std::shared_ptr<const HttpServer::Checks>& HttpServer::ChecksLocked(CheckSet set) {
  return set == CheckSet::kHealth ? health_checks_ : ready_checks_;
}

Status HttpServer::AddCheck(CheckSet set, std::string name, HealthCheck check) {
  // The name is one token of a line-oriented answer.
  if (name.empty() || name.find_first_of(" \t\r\n") != std::string::npos) {
    return Status(Reason::kInvalid, "check name \"" + name + "\" must be one non-empty word");
  }
  MutexLock l(mu_);
  std::shared_ptr<const Checks>& checks = ChecksLocked(set);
  for (const auto& [existing, unused] : *checks) {
    if (existing == name) return Status(Reason::kAlreadyExists, "check " + name + " already added");
  }
  auto next = std::make_shared<Checks>(*checks);
  next->emplace_back(std::move(name), std::move(check));
  checks = std::move(next);
  return Status::Ok();
}

HandlerResponse HttpServer::ServeChecks(std::string_view endpoint, CheckSet set,
                                        const HandlerRequest& request) {
  std::shared_ptr<const Checks> checks;
  {
    MutexLock l(mu_);
    checks = ChecksLocked(set);
  }
  std::string lines;
  bool failed = false;
  for (const auto& [name, check] : *checks) {
    const Status status = check();
    if (status.ok()) {
      lines += "[+]" + name + " ok\n";
      continue;
    }
    failed = true;
    lines += "[-]" + name + " failed: " + status.message() + "\n";
    spdlog::warn("{} check {} failed: {}", endpoint, name, status.message());
  }
  if (!failed && !request.HasParam("verbose")) return {200, kTextPlain, "ok"};
  lines += std::string(endpoint) + (failed ? " check failed\n" : " check passed\n");
  return {failed ? 500 : 200, kTextPlain, std::move(lines)};
}

std::shared_ptr<const HttpServer::Route> HttpServer::FindRoute(const std::string& path) const {
  MutexLock l(mu_);
  auto it = routes_.find(path);
  return it == routes_.end() ? nullptr : it->second;
}

int HttpServer::OnRequest(mg_connection* conn) {
  auto* self = static_cast<HttpServer*>(mg_get_user_data(mg_get_context(conn)));
  return self->Serve(conn);
}

int HttpServer::OnLog(const mg_connection* conn, const char* message) {
  const mg_context* ctx = conn != nullptr ? mg_get_context(conn) : nullptr;
  auto* self = ctx != nullptr ? static_cast<HttpServer*>(mg_get_user_data(ctx)) : nullptr;
  if (self != nullptr) {
    MutexLock l(self->mu_);
    if (self->starting_) {
      self->start_log_.emplace_back(message);
      return 1;
    }
  }
  // Once running, civetweb only reports misbehaving clients: not our error.
  spdlog::debug("civetweb: {}", message);
  return 1;  // Handled: civetweb writes no log file of its own.
}

int HttpServer::Serve(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  const HandlerRequest request{info->request_method,
                            info->local_uri != nullptr ? info->local_uri : "",
                            info->query_string != nullptr ? info->query_string : ""};
  const std::shared_ptr<const Route> route = FindRoute(request.path);
  if (route == nullptr) {
    Write(conn, request, {404, kTextPlain, "404 page not found\n"});
    return 404;
  }
  const std::vector<std::string>& methods = route->methods;
  const bool get = std::find(methods.begin(), methods.end(), "GET") != methods.end();
  if (std::find(methods.begin(), methods.end(), request.method) == methods.end() &&
      !(get && request.method == "HEAD")) {
    std::vector<std::string> allow = methods;
    if (get) allow.push_back("HEAD");
    Write(conn, request, {405, kTextPlain, "405 method not allowed\n"}, Join(allow, ", "));
    return 405;
  }
  HandlerResponse response;
  // Exceptions must not unwind through civetweb's C frames.
  try {
    response = route->handler(request);
  } catch (const std::exception& e) {
    spdlog::error("http {} {}: handler threw: {}", request.method, request.path, e.what());
    response = {500, kTextPlain, "500 internal server error\n"};
  } catch (...) {
    spdlog::error("http {} {}: handler threw a non-exception", request.method, request.path);
    response = {500, kTextPlain, "500 internal server error\n"};
  }
  // Civetweb reads a return of 0 as "not handled" and would answer again.
  if (response.code < 100 || response.code > 599) {
    spdlog::error("http {} {}: handler returned status {}", request.method, request.path,
                  response.code);
    response = {500, kTextPlain, "500 internal server error\n"};
  }
  Write(conn, request, response);
  return response.code;
}

}  // namespace hf::kube
