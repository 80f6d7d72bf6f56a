// Status and StatusOr: the error type of hf::kube, carrying the Kubernetes
// API reason (metav1.StatusReason) so callers branch on NotFound, Conflict,
// Gone, ... instead of on HTTP codes or message text.
//
// Thread-safety: plain values; copy freely.
#ifndef HF_KUBE_STATUS_H_
#define HF_KUBE_STATUS_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace hf::kube {

enum class Reason {
  kOk,
  kBadRequest,
  kUnauthorized,
  kForbidden,
  kNotFound,
  kAlreadyExists,
  kConflict,
  kGone,
  kInvalid,
  kTooManyRequests,
  kTimeout,
  kInternalError,
  kServiceUnavailable,
  kTransport,  // no HTTP answer at all: connect, TLS or read failure.
  kUnknown,
};

// The API's own spelling ("NotFound", "AlreadyExists", ...).
std::string_view ReasonName(Reason reason);
// Parses metav1.Status.reason; unknown strings map to kUnknown.
Reason ReasonFromString(std::string_view name);
// What an HTTP status means when the body carries no reason.
Reason ReasonFromHttpCode(int code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Reason reason, std::string message, int http_code = 0)
      : reason_(reason), message_(std::move(message)), http_code_(http_code) {}

  static Status Ok() { return Status(); }

  bool ok() const { return reason_ == Reason::kOk; }
  Reason reason() const { return reason_; }
  const std::string& message() const { return message_; }
  int http_code() const { return http_code_; }

  // Set from the Retry-After header on 429 and 5xx answers.
  std::optional<std::chrono::seconds> retry_after() const { return retry_after_; }
  Status& set_retry_after(std::chrono::seconds s) {
    retry_after_ = s;
    return *this;
  }

  // "NotFound: devicepools.hashfoundry.com \"x\" not found".
  std::string ToString() const;

 private:
  Reason reason_ = Reason::kOk;
  std::string message_;
  int http_code_ = 0;
  std::optional<std::chrono::seconds> retry_after_;
};

inline bool IsNotFound(const Status& s) { return s.reason() == Reason::kNotFound; }
inline bool IsConflict(const Status& s) { return s.reason() == Reason::kConflict; }
inline bool IsAlreadyExists(const Status& s) { return s.reason() == Reason::kAlreadyExists; }
inline bool IsGone(const Status& s) { return s.reason() == Reason::kGone; }
inline bool IsInvalid(const Status& s) { return s.reason() == Reason::kInvalid; }
inline bool IsForbidden(const Status& s) { return s.reason() == Reason::kForbidden; }
inline bool IsTooManyRequests(const Status& s) { return s.reason() == Reason::kTooManyRequests; }

// A value or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  StatusOr(Status status) : v_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace hf::kube

#endif  // HF_KUBE_STATUS_H_
