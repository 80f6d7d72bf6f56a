// FakeTransport: a scripted Transport for unit tests. Requests are recorded;
// answers are taken in order from per-"METHOD path-prefix" queues. Streams
// deliver their scripted chunks, then either end or hold until stopped.
#ifndef HF_TESTS_KUBE_TESTING_FAKE_TRANSPORT_H_
#define HF_TESTS_KUBE_TESTING_FAKE_TRANSPORT_H_

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kube/rest/transport.h"

namespace hf::kube::testing {

struct FakeStream {
  int code = 200;
  std::vector<std::string> chunks;
  bool hold_open = false;  // after the chunks, wait for stop instead of ending
  std::string error_body;  // for non-2xx
};

class FakeTransport final : public Transport {
 public:
  // Answers the next request whose "METHOD path" starts with `prefix`.
  void Respond(const std::string& prefix, int code, std::string body,
               std::optional<std::chrono::seconds> retry_after = std::nullopt) {
    std::lock_guard<std::mutex> l(mu_);
    HttpResponse r;
    r.code = code;
    r.body = std::move(body);
    r.retry_after = retry_after;
    responses_[prefix].push_back(std::move(r));
  }
  void RespondStream(const std::string& prefix, FakeStream s) {
    std::lock_guard<std::mutex> l(mu_);
    streams_[prefix].push_back(std::move(s));
    cv_.notify_all();
  }

  StatusOr<HttpResponse> Do(const HttpRequest& req) override {
    std::lock_guard<std::mutex> l(mu_);
    requests_.push_back(req);
    cv_.notify_all();
    std::string line = req.method + " " + req.path;
    for (auto& [prefix, queue] : responses_) {
      if (line.rfind(prefix, 0) == 0 && !queue.empty()) {
        HttpResponse r = queue.front();
        queue.pop_front();
        return r;
      }
    }
    return Status(Reason::kTransport, "fake: no response scripted for " + line);
  }

  StatusOr<HttpResponse> Stream(const HttpRequest& req, const std::function<bool(std::string_view)>& on_data,
                                std::stop_token stop) override {
    std::stop_callback wake(stop, [this] {
      std::lock_guard<std::mutex> g(mu_);
      cv_.notify_all();
    });
    std::unique_lock<std::mutex> l(mu_);
    requests_.push_back(req);
    cv_.notify_all();
    std::string line = req.method + " " + req.path;
    // With nothing scripted yet, wait for the test to script one (or stop).
    FakeStream s;
    for (;;) {
      bool found = false;
      for (auto& [prefix, queue] : streams_) {
        if (line.rfind(prefix, 0) == 0 && !queue.empty()) {
          s = queue.front();
          queue.pop_front();
          found = true;
          break;
        }
      }
      if (found) break;
      if (stop.stop_requested()) return HttpResponse{200, "", std::nullopt, "HTTP/1.1"};
      cv_.wait(l);
    }
    HttpResponse resp{s.code, "", std::nullopt, "HTTP/1.1"};
    if (s.code < 200 || s.code >= 300) {
      resp.body = s.error_body;
      return resp;
    }
    l.unlock();
    for (const auto& c : s.chunks) {
      if (!on_data(c)) return resp;
    }
    l.lock();
    if (s.hold_open) cv_.wait(l, [&] { return stop.stop_requested(); });
    return resp;
  }

  std::vector<HttpRequest> requests() const {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }
  // Blocks until at least n requests were made.
  void WaitForRequests(size_t n) const {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return requests_.size() >= n; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::map<std::string, std::deque<HttpResponse>> responses_;
  std::map<std::string, std::deque<FakeStream>> streams_;
  std::vector<HttpRequest> requests_;
};

}  // namespace hf::kube::testing

#endif  // HF_TESTS_KUBE_TESTING_FAKE_TRANSPORT_H_
