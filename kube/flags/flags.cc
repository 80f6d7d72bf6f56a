#include "kube/flags/flags.h"

#include <charconv>

namespace hf::kube::flags {
namespace {

// The shortest text that reads back as `d`, without an exponent if it
// fits: 0.5, 1000000.
std::string Format(double d) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
  if (ec != std::errc()) end = std::to_chars(buf, buf + sizeof buf, d).ptr;
  return std::string(buf, end);
}

}  // namespace

std::string Quote(std::string_view value) {
  constexpr size_t kMax = 64;
  if (value.size() <= kMax) return "\"" + std::string(value) + "\"";
  return "\"" + std::string(value.substr(0, kMax)) + "...\"";
}

Status Invalid(std::string_view flag, std::string_view why) {
  return Status(Reason::kInvalid, "--" + std::string(flag) + ": " + std::string(why));
}

Status NotA(std::string_view value, std::string_view what) {
  return Status(Reason::kInvalid, Quote(value) + " is not " + std::string(what));
}

Check Is(bool (*valid)(std::string_view), std::string what) {
  return [valid, what = std::move(what)](std::string_view value) {
    return valid(value) ? Status::Ok() : NotA(value, what);
  };
}

std::vector<std::string> FindValues(const std::vector<std::string>& args, std::string_view name) {
  const std::string flag = "--" + std::string(name);
  std::vector<std::string> values;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg.starts_with(flag + "=")) {
      values.emplace_back(arg.substr(flag.size() + 1));
    } else if (arg == flag && i + 1 < args.size()) {
      values.push_back(args[++i]);
    }
  }
  return values;
}

namespace internal {

StatusOr<Outcome> Parse(const std::vector<std::string>& args, const IsBool& is_bool, const SetValue& set) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") return Outcome::kHelp;
    if (arg == "--version") return Outcome::kVersion;
    if (!arg.starts_with("--") || arg.size() == 2) {
      return Status(Reason::kInvalid,
                    "unexpected argument " + Quote(arg) + " (flags are --name=value or --name value)");
    }
    arg.remove_prefix(2);
    size_t eq = arg.find('=');
    std::string_view name = arg.substr(0, eq);
    std::optional<bool> boolean = is_bool(name);
    if (!boolean) return Status(Reason::kInvalid, "unknown flag --" + std::string(name.substr(0, 64)));
    std::string_view value;
    if (eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
    } else if (*boolean) {
      value = "true";
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return Invalid(name, "needs a value");
    }
    if (Status st = set(name, value); !st.ok()) return Invalid(name, st.message());
  }
  return Outcome::kRun;
}

StatusOr<std::string> CheckString(std::string_view value, const Check& check, Normalise normalise) {
  if (check) {
    if (Status st = check(value); !st.ok()) return st;
  }
  return normalise != nullptr ? normalise(value) : std::string(value);
}

StatusOr<bool> ParseBool(std::string_view value) {
  if (value == "true" || value == "1") return true;
  if (value == "false" || value == "0") return false;
  return NotA(value, "true or false");
}

StatusOr<int> ParseInt(std::string_view value, int min, int max) {
  int n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || end != value.data() + value.size() || n < min || n > max) {
    if (max == std::numeric_limits<int>::max()) return NotA(value, "an integer of at least " + std::to_string(min));
    return NotA(value, "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return n;
}

StatusOr<double> ParseDouble(std::string_view value, double min, double max) {
  double d = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), d);
  // !(d >= min) also refuses NaN.
  if (ec != std::errc() || end != value.data() + value.size() || !(d >= min) || d > max) {
    return NotA(value, "a number in [" + Format(min) + ", " + Format(max) + "]");
  }
  return d;
}

}  // namespace internal
}  // namespace hf::kube::flags
