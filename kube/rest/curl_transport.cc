#include <curl/curl.h>

#include <array>
#include <mutex>
#include <vector>

#include "kube/rest/transport.h"

namespace hf::kube {
namespace {

// libcurl must be initialised once before any thread uses it.
void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

class CurlTransport final : public Transport {
 public:
  // Each pooled easy handle keeps its own connections alive between
  // requests; only TLS sessions and DNS are shared. (A shared connection
  // cache closed and reopened connections under concurrent use.)
  explicit CurlTransport(const RestConfig& config) : config_(config) {
    GlobalInit();
    share_ = curl_share_init();
    curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &CurlTransport::Lock);
    curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &CurlTransport::Unlock);
    curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  }

  ~CurlTransport() override {
    for (CURL* h : idle_) curl_easy_cleanup(h);
    curl_share_cleanup(share_);
  }

  StatusOr<HttpResponse> Do(const HttpRequest& req) override {
    auto resp = Perform(req, nullptr, std::stop_token());
    if (resp.ok() && resp->code == 401 && config_.credentials) {
      // A rotated or expired credential: drop what is cached, try once more.
      config_.credentials->Invalidate();
      return Perform(req, nullptr, std::stop_token());
    }
    return resp;
  }

  StatusOr<HttpResponse> Stream(const HttpRequest& req,
                                const std::function<bool(std::string_view)>& on_data,
                                std::stop_token stop) override {
    return Perform(req, &on_data, stop);
  }

 private:
  struct Exchange {
    CURL* handle;
    const std::function<bool(std::string_view)>* on_data;
    std::stop_token stop;
    HttpResponse* resp;
    bool stopped_by_reader = false;
  };

  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
    static_cast<CurlTransport*>(self)->locks_[static_cast<size_t>(data) % kLocks].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* self) {
    static_cast<CurlTransport*>(self)->locks_[static_cast<size_t>(data) % kLocks].unlock();
  }

  static size_t OnWrite(char* ptr, size_t size, size_t nmemb, void* user) {
    auto* ex = static_cast<Exchange*>(user);
    size_t n = size * nmemb;
    long code = 0;
    curl_easy_getinfo(ex->handle, CURLINFO_RESPONSE_CODE, &code);
    if (ex->on_data != nullptr && code >= 200 && code < 300) {
      if (!(*ex->on_data)(std::string_view(ptr, n))) {
        ex->stopped_by_reader = true;
        return 0;  // aborts the transfer
      }
      return n;
    }
    ex->resp->body.append(ptr, n);
    return n;
  }

  static size_t OnHeader(char* buf, size_t size, size_t nitems, void* user) {
    auto* ex = static_cast<Exchange*>(user);
    std::string_view line(buf, size * nitems);
    constexpr std::string_view kRetry = "retry-after:";
    if (line.size() > kRetry.size()) {
      bool match = true;
      for (size_t i = 0; i < kRetry.size() && match; ++i) {
        match = std::tolower(static_cast<unsigned char>(line[i])) == kRetry[i];
      }
      if (match) {
        long secs = std::strtol(std::string(line.substr(kRetry.size())).c_str(), nullptr, 10);
        if (secs > 0) ex->resp->retry_after = std::chrono::seconds(secs);
      }
    }
    return size * nitems;
  }

  static int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* ex = static_cast<Exchange*>(user);
    return ex->stop.stop_requested() ? 1 : 0;
  }

  CURL* Acquire() {
    {
      MutexLock l(mu_);
      if (!idle_.empty()) {
        CURL* h = idle_.back();
        idle_.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }

  void Release(CURL* h) {
    MutexLock l(mu_);
    idle_.push_back(h);
  }

  StatusOr<HttpResponse> Perform(const HttpRequest& req,
                                 const std::function<bool(std::string_view)>* on_data,
                                 std::stop_token stop) {
    Credentials creds;
    if (config_.credentials) {
      auto c = config_.credentials->Get();
      if (!c.ok()) return c.status();
      creds = std::move(*c);
    }

    CURL* h = Acquire();
    curl_easy_reset(h);
    HttpResponse resp;
    Exchange ex{h, on_data, stop, &resp};

    std::string url = config_.host + req.path;
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_SHARE, share_);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, config_.user_agent.c_str());
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    if (!config_.ca_pem.empty()) {
      curl_blob ca{const_cast<char*>(config_.ca_pem.data()), config_.ca_pem.size(), CURL_BLOB_COPY};
      curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
    }
    if (!creds.cert_pem.empty()) {
      curl_blob cert{creds.cert_pem.data(), creds.cert_pem.size(), CURL_BLOB_COPY};
      curl_blob key{creds.key_pem.data(), creds.key_pem.size(), CURL_BLOB_COPY};
      curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
      curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
      curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
      curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }

    curl_slist* headers = nullptr;
    std::string accept = "Accept: " + req.accept;
    headers = curl_slist_append(headers, accept.c_str());
    std::string auth;
    if (!creds.token.empty()) {
      auth = "Authorization: Bearer " + creds.token;
      headers = curl_slist_append(headers, auth.c_str());
    }
    std::string ctype;
    if (!req.content_type.empty()) {
      ctype = "Content-Type: " + req.content_type;
      headers = curl_slist_append(headers, ctype.c_str());
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

    if (req.method == "GET") {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
      if (!req.body.empty() || req.method != "DELETE") {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      }
    }

    auto timeout = req.timeout.count() > 0 ? req.timeout : config_.timeout;
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &CurlTransport::OnWrite);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &ex);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &CurlTransport::OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &ex);
    if (on_data != nullptr) {
      curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
      curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &CurlTransport::OnProgress);
      curl_easy_setopt(h, CURLOPT_XFERINFODATA, &ex);
    }

    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    long version = 0;
    curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &version);
    curl_slist_free_all(headers);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    Release(h);

    resp.code = static_cast<int>(code);
    resp.protocol = version == CURL_HTTP_VERSION_2_0 ? "HTTP/2" : "HTTP/1.1";
    bool streamed_end = on_data != nullptr && (ex.stopped_by_reader || stop.stop_requested());
    if (rc != CURLE_OK && !streamed_end) {
      // A stream the server closed after a 2xx is a normal end of a watch.
      if (on_data != nullptr && code >= 200 && code < 300 &&
          (rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR ||
           rc == CURLE_HTTP2_STREAM)) {
        return resp;
      }
      std::string msg = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
      return Status(Reason::kTransport, req.method + " " + url + ": " + msg);
    }
    return resp;
  }

  static constexpr size_t kLocks = 8;
  const RestConfig config_;
  CURLSH* share_;
  // curl locks and unlocks these from separate callbacks, which the lock
  // annotations cannot follow; plain std::mutex.
  std::array<std::mutex, kLocks> locks_;
  Mutex mu_;
  std::vector<CURL*> idle_ HF_GUARDED_BY(mu_);
};

}  // namespace

std::shared_ptr<Transport> NewCurlTransport(const RestConfig& config) {
  return std::make_shared<CurlTransport>(config);
}

}  // namespace hf::kube
