// Client: the verbs of the Kubernetes REST API (kube/rest/interfaces.h) over
// a Transport, on JSON objects (like client-go's dynamic client). Typed structs for our own CRs
// sit on top of it, each with one codec.
//
// Errors come back as Status with the API's reason (NotFound, Conflict,
// Invalid, Gone, Forbidden, TooManyRequests with its Retry-After, ...).
// Requests other than watches wait for the client-side QPS/burst bucket;
// 429 answers with Retry-After are retried a few times before giving up.
//
// Thread-safety: safe for concurrent use.
#ifndef HF_KUBE_REST_CLIENT_H_
#define HF_KUBE_REST_CLIENT_H_

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "kube/clock.h"
#include "kube/rest/interfaces.h"
#include "kube/rest/resource.h"
#include "kube/rest/transport.h"
#include "kube/status.h"

namespace hf::kube {

class TokenBucket;

// One finished request, for metrics.
struct RequestRecord {
  std::string verb;  // get, list, watch, create, update, patch, apply, delete
  std::string resource;
  int code;  // 0 when no HTTP answer came
  double seconds;
};

struct ClientOptions {
  // Client-side limit; nullptr for none.
  std::shared_ptr<TokenBucket> rate_limiter;
  Clock* clock = nullptr;  // nullptr = DefaultClock()
  std::function<void(const RequestRecord&)> on_request;
  // How many times a 429/503 with Retry-After is retried.
  int max_retries = 5;
};

class Client final : public ReadWriter {
 public:
  Client(std::shared_ptr<Transport> transport, ClientOptions options = {});

  // Any other request (discovery, TokenRequest, SelfSubjectAccessReview).
  StatusOr<Json> Raw(const std::string& method, const std::string& path, const Json* body = nullptr);
  // A GET whose answer is not JSON, e.g. a pod's log.
  StatusOr<std::string> GetText(const std::string& path);

 protected:
  StatusOr<Json> DoGet(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                       const GetOptions& opts) override;
  StatusOr<ListPage> DoList(const GroupVersionResource& gvr, const std::string& ns, const ListOptions& opts) override;
  Status DoWatch(const GroupVersionResource& gvr, const std::string& ns, const WatchOptions& opts,
                 const std::function<bool(WatchEvent&&)>& on_event, std::stop_token stop) override;
  StatusOr<Json> DoCreate(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                          const WriteOptions& opts) override;
  StatusOr<Json> DoUpdate(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                          const WriteOptions& opts, bool status) override;
  Status DoDelete(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                  const DeleteOptions& opts) override;
  StatusOr<Json> DoPatch(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                         PatchType type, const std::string& body, const PatchOptions& opts) override;
  StatusOr<Json> DoApply(const GroupVersionResource& gvr, const std::string& ns, const Json& obj,
                         const ApplyOptions& opts) override;

 private:
  StatusOr<Json> Send(const std::string& verb, const std::string& resource, HttpRequest req);
  // The body of a 2xx answer, after the retries Send makes.
  StatusOr<std::string> SendForBody(const std::string& verb, const std::string& resource, HttpRequest req);

  std::shared_ptr<Transport> transport_;
  ClientOptions options_;
  Clock& clock_;
};

// A Status from an API error body (metav1.Status) or, failing that, the code.
Status StatusFromResponse(int code, const std::string& body);

}  // namespace hf::kube

#endif  // HF_KUBE_REST_CLIENT_H_
