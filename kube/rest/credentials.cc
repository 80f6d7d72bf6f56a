#include "kube/rest/credentials.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

extern char** environ;

namespace hf::kube {
namespace {

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Reason::kUnknown, "cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

bool ParseRfc3339(const std::string& s, std::chrono::system_clock::time_point* out) {
  std::tm tm{};
  const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return false;
  std::chrono::microseconds frac{0};
  if (*rest == '.') {
    ++rest;
    long value = 0;
    int digits = 0;
    while (*rest >= '0' && *rest <= '9') {
      if (digits < 6) {
        value = value * 10 + (*rest - '0');
        ++digits;
      }
      ++rest;
    }
    while (digits++ < 6) value *= 10;
    frac = std::chrono::microseconds(value);
  }
  long offset = 0;
  if (*rest == 'Z' || *rest == 'z') {
    ++rest;
  } else if (*rest == '+' || *rest == '-') {
    int hh = 0, mm = 0;
    if (std::sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2) return false;
    offset = (hh * 3600 + mm * 60) * (*rest == '+' ? 1 : -1);
    rest += 6;
  } else {
    return false;
  }
  if (*rest != '\0') return false;
  time_t t = timegm(&tm);
  *out = std::chrono::system_clock::from_time_t(t - offset) + frac;
  return true;
}

std::string FormatRfc3339(std::chrono::system_clock::time_point t, bool micro) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  if (secs > t) secs -= std::chrono::seconds(1);
  time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf);
  if (micro) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
    char frac[24];
    std::snprintf(frac, sizeof frac, ".%06ld", static_cast<long>(us));
    out += frac;
  }
  return out + "Z";
}

TokenFileCredentials::TokenFileCredentials(std::string path, Clock& clock, Clock::Duration max_age)
    : path_(std::move(path)), clock_(clock), max_age_(max_age) {}

StatusOr<Credentials> TokenFileCredentials::Get() {
  MutexLock l(mu_);
  struct stat st{};
  std::int64_t mtime = -1;
  if (stat(path_.c_str(), &st) == 0) {
    mtime = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  }
  bool stale = token_.empty() || mtime != mtime_ns_ || clock_.Now() - read_at_ >= max_age_;
  if (stale) {
    auto text = ReadFile(path_);
    if (!text.ok()) {
      // Keep serving the last good token while the file is briefly absent
      // during an atomic swap; fail only when there never was one.
      if (token_.empty()) return text.status();
    } else {
      token_ = Trim(*text);
      mtime_ns_ = mtime;
      read_at_ = clock_.Now();
    }
  }
  if (token_.empty()) return Status(Reason::kUnauthorized, "token file " + path_ + " is empty");
  Credentials c;
  c.token = token_;
  return c;
}

void TokenFileCredentials::Invalidate() {
  MutexLock l(mu_);
  mtime_ns_ = -1;
}

StatusOr<Credentials> ParseExecCredential(const std::string& json_text,
                                          std::chrono::system_clock::time_point* expiry) {
  nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status(Reason::kUnauthorized, "exec plugin printed no ExecCredential JSON");
  }
  if (doc.value("kind", "") != "ExecCredential") {
    return Status(Reason::kUnauthorized, "exec plugin output has kind '" +
                                             doc.value("kind", "") + "', want ExecCredential");
  }
  const auto status = doc.value("status", nlohmann::json::object());
  if (!status.is_object()) return Status(Reason::kUnauthorized, "ExecCredential.status is not an object");
  Credentials c;
  c.token = status.value("token", "");
  c.cert_pem = status.value("clientCertificateData", "");
  c.key_pem = status.value("clientKeyData", "");
  if (c.token.empty() && c.cert_pem.empty()) {
    return Status(Reason::kUnauthorized, "ExecCredential has neither token nor clientCertificateData");
  }
  if (c.cert_pem.empty() != c.key_pem.empty()) {
    return Status(Reason::kUnauthorized, "ExecCredential needs both clientCertificateData and clientKeyData");
  }
  *expiry = {};
  std::string exp = status.value("expirationTimestamp", "");
  if (!exp.empty() && !ParseRfc3339(exp, expiry)) {
    return Status(Reason::kUnauthorized, "ExecCredential expirationTimestamp '" + exp + "' is not RFC 3339");
  }
  return c;
}

ExecCredentials::ExecCredentials(ExecConfig config, Clock& clock)
    : config_(std::move(config)), clock_(clock) {}

StatusOr<Credentials> ExecCredentials::Get() {
  MutexLock l(mu_);
  bool expired = expiry_ != std::chrono::system_clock::time_point{} && clock_.WallNow() >= expiry_;
  if (!valid_ || expired) {
    std::chrono::system_clock::time_point expiry;
    auto c = Run(&expiry);
    if (!c.ok()) return c.status();
    cached_ = *c;
    expiry_ = expiry;
    valid_ = true;
  }
  return cached_;
}

void ExecCredentials::Invalidate() {
  MutexLock l(mu_);
  valid_ = false;
}

StatusOr<Credentials> ExecCredentials::Run(std::chrono::system_clock::time_point* expiry) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Status(Reason::kUnknown, std::string("pipe: ") + std::strerror(errno));

  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  for (const auto& [k, v] : config_.env) env_strings.push_back(k + "=" + v);
  nlohmann::json info = {{"apiVersion", config_.api_version},
                         {"kind", "ExecCredential"},
                         {"spec", {{"interactive", false}}}};
  env_strings.push_back("KUBERNETES_EXEC_INFO=" + info.dump());
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  std::vector<std::string> argv_strings{config_.command};
  argv_strings.insert(argv_strings.end(), config_.args.begin(), config_.args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, config_.command.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return Status(Reason::kUnauthorized,
                  "exec plugin '" + config_.command + "' could not start: " + std::strerror(rc));
  }
  std::string output;
  char buf[4096];
  for (;;) {
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n > 0) {
      output.append(buf, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  close(out[0]);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    return Status(Reason::kUnauthorized, "exec plugin '" + config_.command + "' failed with status " +
                                             std::to_string(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1));
  }
  return ParseExecCredential(output, expiry);
}

}  // namespace hf::kube
