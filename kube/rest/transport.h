// Transport: one HTTP exchange with the API server, authenticated and
// TLS-verified from a RestConfig. The REST client builds on it; tests give the
// client a fake Transport instead of a server.
//
// Thread-safety: implementations are safe for concurrent requests.
#ifndef HF_KUBE_REST_TRANSPORT_H_
#define HF_KUBE_REST_TRANSPORT_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include "kube/rest/config.h"
#include "kube/status.h"

namespace hf::kube {

struct HttpRequest {
  std::string method = "GET";
  std::string path;  // absolute path with query, e.g. /api/v1/nodes?limit=500
  std::string body;
  std::string content_type;
  std::string accept = "application/json";
  // 0 means the config's default; watches pass their own.
  std::chrono::milliseconds timeout{0};
};

struct HttpResponse {
  int code = 0;
  std::string body;
  std::optional<std::chrono::seconds> retry_after;
  std::string protocol;  // "HTTP/2" or "HTTP/1.1", for tests and logs
};

class Transport {
 public:
  virtual ~Transport() = default;

  // The whole response. A Status only when no HTTP answer arrived
  // (Reason::kTransport); HTTP errors come back as a response code.
  virtual StatusOr<HttpResponse> Do(const HttpRequest& req) = 0;

  // For watches: a 2xx body is handed to `on_data` as it arrives (return
  // false to stop); any other body is collected into the response. Returns
  // when the stream ends, `on_data` says stop, or `stop` is requested.
  virtual StatusOr<HttpResponse> Stream(const HttpRequest& req,
                                        const std::function<bool(std::string_view)>& on_data,
                                        std::stop_token stop) = 0;
};

// libcurl: a pool of handles, each keeping its connection alive across
// requests (TLS sessions are shared), and HTTP/2 negotiated when the server
// offers it.
std::shared_ptr<Transport> NewCurlTransport(const RestConfig& config);

}  // namespace hf::kube

#endif  // HF_KUBE_REST_TRANSPORT_H_
