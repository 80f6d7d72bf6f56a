#include "kube/status.h"

#include <array>

namespace hf::kube {
namespace {

struct ReasonEntry {
  Reason reason;
  std::string_view name;
};

constexpr std::array<ReasonEntry, 15> kReasons{{
    {Reason::kOk, ""},
    {Reason::kBadRequest, "BadRequest"},
    {Reason::kUnauthorized, "Unauthorized"},
    {Reason::kForbidden, "Forbidden"},
    {Reason::kNotFound, "NotFound"},
    {Reason::kAlreadyExists, "AlreadyExists"},
    {Reason::kConflict, "Conflict"},
    {Reason::kGone, "Gone"},
    {Reason::kInvalid, "Invalid"},
    {Reason::kTooManyRequests, "TooManyRequests"},
    {Reason::kTimeout, "Timeout"},
    {Reason::kInternalError, "InternalError"},
    {Reason::kServiceUnavailable, "ServiceUnavailable"},
    {Reason::kTransport, "Transport"},
    {Reason::kUnknown, "Unknown"},
}};

}  // namespace

std::string_view ReasonName(Reason reason) {
  for (const auto& e : kReasons) {
    if (e.reason == reason) return e.name;
  }
  return "Unknown";
}

Reason ReasonFromString(std::string_view name) {
  if (name.empty()) return Reason::kUnknown;
  // The API also says "Expired" for a too-old resourceVersion (410).
  if (name == "Expired") return Reason::kGone;
  for (const auto& e : kReasons) {
    if (e.name == name) return e.reason;
  }
  return Reason::kUnknown;
}

Reason ReasonFromHttpCode(int code) {
  switch (code) {
    case 400: return Reason::kBadRequest;
    case 401: return Reason::kUnauthorized;
    case 403: return Reason::kForbidden;
    case 404: return Reason::kNotFound;
    case 409: return Reason::kConflict;
    case 410: return Reason::kGone;
    case 422: return Reason::kInvalid;
    case 429: return Reason::kTooManyRequests;
    case 500: return Reason::kInternalError;
    case 503: return Reason::kServiceUnavailable;
    case 504: return Reason::kTimeout;
    default:
      return code >= 200 && code < 300 ? Reason::kOk : Reason::kUnknown;
  }
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(ReasonName(reason_));
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

}  // namespace hf::kube
