// Flags: a command line parsed into a struct by a table of typed flags, in
// the one syntax both binaries accept:
//
//   --name=value   --name value   --name (a boolean: true)   --help, -h   --version
//
// A FlagSet<T> maps each flag's name to a Flag<T>, which sets a field of T
// from the text given; the helpers below build the usual kinds from a member
// pointer. Every error is Invalid and reads "--name: why", so the user sees
// which flag to fix; values are quoted and cut short in messages.
//
// Thread-safety: a FlagSet is not changed by Parse, which may run
// concurrently on different destinations.
#ifndef HF_KUBE_FLAGS_FLAGS_H_
#define HF_KUBE_FLAGS_FLAGS_H_

#include <chrono>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kube/status.h"

namespace hf::kube::flags {

// Sets a field of T from a flag's value. A refusal says why; Parse puts
// "--name: " in front.
template <typename T>
using Setter = std::function<Status(T& dst, std::string_view value)>;

template <typename T>
struct Flag {
  bool is_bool = false;  // may stand bare: `--name` means `--name=true`
  Setter<T> set;
};

// What the command line asks for besides values. --help (or -h) and
// --version end the parse: what follows them is not read.
enum class Outcome { kRun, kHelp, kVersion };

namespace internal {
// The syntax, apart from the types: `is_bool` says whether a flag is a
// boolean (nullopt: no such flag), `set` takes its value.
using IsBool = std::function<std::optional<bool>(std::string_view name)>;
using SetValue = std::function<Status(std::string_view name, std::string_view value)>;
StatusOr<Outcome> Parse(const std::vector<std::string>& args, const IsBool& is_bool, const SetValue& set);
}  // namespace internal

template <typename T>
class FlagSet {
 public:
  FlagSet(std::initializer_list<std::pair<const std::string, Flag<T>>> flags) : flags_(flags) {}

  // The flags of `inner`, setting the struct `member` of T.
  template <typename M>
  FlagSet(M T::*member, const FlagSet<M>& inner);

  // Adds a flag, or replaces the one of that name.
  void Add(std::string name, Flag<T> flag) { flags_.insert_or_assign(std::move(name), std::move(flag)); }

  // Sets dst's fields from args (argv without the program name) in order; a
  // repeated flag sets its field again (or appends to its list). Invalid on
  // an unknown flag, a stray argument, a missing value or a value the flag
  // refuses; dst then holds what the flags before it set.
  StatusOr<Outcome> Parse(const std::vector<std::string>& args, T& dst) const {
    return internal::Parse(
        args,
        [this](std::string_view name) -> std::optional<bool> {
          auto it = flags_.find(name);
          if (it == flags_.end()) return std::nullopt;
          return it->second.is_bool;
        },
        [this, &dst](std::string_view name, std::string_view value) {
          return flags_.find(name)->second.set(dst, value);
        });
  }

 private:
  template <typename>
  friend class FlagSet;

  std::map<std::string, Flag<T>, std::less<>> flags_;
};

// Why `value` is refused, or Ok.
using Check = std::function<Status(std::string_view value)>;

// Stores a value rewritten, e.g. lower-cased.
using Normalise = std::string (*)(std::string_view);

// The value in quotes, cut short: a pasted megabyte is not echoed.
std::string Quote(std::string_view value);

// Invalid: "--flag: why", the form of every error; also for rules that span
// flags, checked after Parse.
Status Invalid(std::string_view flag, std::string_view why);

// Invalid: "\"value\" is not <what>". For Checks and Setters of one's own.
Status NotA(std::string_view value, std::string_view what);

// A Check that refuses what `valid` rejects with NotA(value, what).
Check Is(bool (*valid)(std::string_view), std::string what);

// Every value given for --name by syntax alone (`--name=v`, `--name v`),
// nothing else parsed: for one flag that matters when the rest is invalid.
std::vector<std::string> FindValues(const std::vector<std::string>& args, std::string_view name);

namespace internal {
StatusOr<std::string> CheckString(std::string_view value, const Check& check, Normalise normalise);
StatusOr<bool> ParseBool(std::string_view value);
StatusOr<int> ParseInt(std::string_view value, int min, int max);
StatusOr<double> ParseDouble(std::string_view value, double min, double max);

// A flag whose value `parse` turns into the field's type.
template <typename T, typename V, typename Parse>
Flag<T> Typed(V T::*field, Parse parse, bool is_bool = false) {
  return {is_bool, [field, parse = std::move(parse)](T& dst, std::string_view value) -> Status {
            StatusOr<V> parsed = parse(value);
            if (!parsed.ok()) return parsed.status();
            dst.*field = std::move(parsed).value();
            return Status::Ok();
          }};
}
}  // namespace internal

// A string that passes `check`, stored through `normalise` if given.
template <typename T>
Flag<T> Checked(std::string T::*field, Check check, Normalise normalise = nullptr) {
  return internal::Typed(field, [check = std::move(check), normalise](std::string_view value) {
    return internal::CheckString(value, check, normalise);
  });
}

template <typename T>
Flag<T> String(std::string T::*field) {
  return Checked(field, nullptr);
}

// A repeatable string flag: each value is checked and appended.
template <typename T>
Flag<T> Appended(std::vector<std::string> T::*field, Check check = nullptr, Normalise normalise = nullptr) {
  return {false, [=](T& dst, std::string_view value) -> Status {
            StatusOr<std::string> checked = internal::CheckString(value, check, normalise);
            if (!checked.ok()) return checked.status();
            (dst.*field).push_back(std::move(checked).value());
            return Status::Ok();
          }};
}

// true or 1, false or 0; bare `--name` is true.
template <typename T>
Flag<T> Bool(bool T::*field) {
  return internal::Typed(field, internal::ParseBool, true);
}

// A decimal integer in [min, max].
template <typename T>
Flag<T> Int(int T::*field, int min, int max = std::numeric_limits<int>::max()) {
  return internal::Typed(field, [min, max](std::string_view value) { return internal::ParseInt(value, min, max); });
}

// A number in [min, max].
template <typename T>
Flag<T> Double(double T::*field, double min, double max) {
  return internal::Typed(field,
                         [min, max](std::string_view value) { return internal::ParseDouble(value, min, max); });
}

// One of the names in `values`, stored as its value.
template <typename T, typename E>
Flag<T> Enum(E T::*field, std::vector<std::pair<std::string_view, E>> values) {
  return internal::Typed(field, [values = std::move(values)](std::string_view value) -> StatusOr<E> {
    std::string names;
    for (const auto& [name, e] : values) {
      if (value == name) return e;
      names += (names.empty() ? "" : ", ") + std::string(name);
    }
    return NotA(value, "one of " + names);
  });
}

// Reads a duration such as "1m30s"; nullopt if it is not one. The syntax is
// the API's (api::ParseDuration), which this library cannot depend on.
using DurationParser = std::optional<std::chrono::milliseconds> (*)(std::string_view);

// A positive duration.
template <typename T>
Flag<T> Duration(std::chrono::milliseconds T::*field, DurationParser parse) {
  return internal::Typed(field, [parse](std::string_view value) -> StatusOr<std::chrono::milliseconds> {
    std::optional<std::chrono::milliseconds> d = parse(value);
    if (!d || d->count() <= 0) return NotA(value, "a positive duration such as 30s or 1m");
    return *d;
  });
}

// `flag` of the struct M, setting the member `member` of T:
// In(&Options::config, String(&OperatorConfig::namespace_)).
template <typename T, typename M>
Flag<T> In(M T::*member, Flag<M> flag) {
  return {flag.is_bool, [member, set = std::move(flag.set)](T& dst, std::string_view value) {
            return set(dst.*member, value);
          }};
}

template <typename T>
template <typename M>
FlagSet<T>::FlagSet(M T::*member, const FlagSet<M>& inner) {
  for (const auto& [name, flag] : inner.flags_) flags_.emplace(name, In(member, flag));
}

}  // namespace hf::kube::flags

#endif  // HF_KUBE_FLAGS_FLAGS_H_
