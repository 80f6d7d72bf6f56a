// CredentialSource: what a request authenticates with. A source may change
// over time (a rotated ServiceAccount token, an exec plugin's short-lived
// credential), so the transport asks before each request.
//
// Thread-safety: all implementations are safe for concurrent use.
#ifndef HF_KUBE_REST_CREDENTIALS_H_
#define HF_KUBE_REST_CREDENTIALS_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kube/clock.h"
#include "kube/status.h"
#include "kube/mutex.h"

namespace hf::kube {

struct Credentials {
  std::string token;     // bearer token, empty for none
  std::string cert_pem;  // client certificate, empty for none
  std::string key_pem;
};

class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  virtual StatusOr<Credentials> Get() = 0;
  // Called after a 401 so a cached credential is dropped before the retry.
  virtual void Invalidate() {}
};

class StaticCredentials final : public CredentialSource {
 public:
  explicit StaticCredentials(Credentials c) : creds_(std::move(c)) {}
  StatusOr<Credentials> Get() override { return creds_; }

 private:
  const Credentials creds_;
};

// A token (and optionally a fixed client cert) read from a file and re-read
// when the file changes or `max_age` passes, as kubelet rotates the
// projected ServiceAccount token in place.
class TokenFileCredentials final : public CredentialSource {
 public:
  TokenFileCredentials(std::string path, Clock& clock,
                       Clock::Duration max_age = std::chrono::minutes(1));
  StatusOr<Credentials> Get() override;
  void Invalidate() override;

 private:
  const std::string path_;
  Clock& clock_;
  const Clock::Duration max_age_;
  Mutex mu_;
  std::string token_ HF_GUARDED_BY(mu_);
  Clock::TimePoint read_at_ HF_GUARDED_BY(mu_){};
  std::int64_t mtime_ns_ HF_GUARDED_BY(mu_) = -1;
};

// client.authentication.k8s.io ExecCredential plugins (kubeconfig `exec:`):
// runs the command, caches its credential until expirationTimestamp.
struct ExecConfig {
  std::string command;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string api_version = "client.authentication.k8s.io/v1";
};

class ExecCredentials final : public CredentialSource {
 public:
  ExecCredentials(ExecConfig config, Clock& clock);
  StatusOr<Credentials> Get() override;
  void Invalidate() override;

 private:
  StatusOr<Credentials> Run(std::chrono::system_clock::time_point* expiry);

  const ExecConfig config_;
  Clock& clock_;
  Mutex mu_;
  bool valid_ HF_GUARDED_BY(mu_) = false;
  Credentials cached_ HF_GUARDED_BY(mu_);
  std::chrono::system_clock::time_point expiry_ HF_GUARDED_BY(mu_){};  // epoch = never
};

// Parses an ExecCredential JSON document (the plugin's stdout).
StatusOr<Credentials> ParseExecCredential(const std::string& json_text,
                                          std::chrono::system_clock::time_point* expiry);

// Parses RFC 3339 (2026-01-02T03:04:05Z or with fraction/offset).
bool ParseRfc3339(const std::string& s, std::chrono::system_clock::time_point* out);
// Formats as RFC 3339 UTC with microseconds (metav1.MicroTime) or seconds.
std::string FormatRfc3339(std::chrono::system_clock::time_point t, bool micro = false);

}  // namespace hf::kube

#endif  // HF_KUBE_REST_CREDENTIALS_H_
