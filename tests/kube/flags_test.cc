// FlagSet: the syntax both binaries accept, each helper's values and
// refusals, and the "--name: why" form of every error.
#include "kube/flags/flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace hf::kube::flags {
namespace {

using ::testing::HasSubstr;

enum class Color { kRed, kGreen };

struct Inner {
  std::string name;
};

struct Dest {
  std::string text = "default";
  std::string hex;
  std::vector<std::string> items;
  bool on = false;
  int count = 1;
  int positive = 1;
  Color color = Color::kRed;
  std::chrono::milliseconds interval{1000};
  double rate = 0;
  Inner inner;
};

bool IsHex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

std::string Lower(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out.push_back(static_cast<char>(std::tolower(c)));
  return out;
}

// Whole seconds only: "5s".
std::optional<std::chrono::milliseconds> Seconds(std::string_view s) {
  if (s.size() < 2 || s.back() != 's') return std::nullopt;
  int n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size() - 1, n);
  if (ec != std::errc() || end != s.data() + s.size() - 1) return std::nullopt;
  return std::chrono::seconds(n);
}

FlagSet<Dest> Flags() {
  return {
      {"text", String(&Dest::text)},
      {"hex", Checked(&Dest::hex, Is(IsHex, "hex"), Lower)},
      {"item", Appended(&Dest::items, Is(IsHex, "hex"))},
      {"on", Bool(&Dest::on)},
      {"count", Int(&Dest::count, 0, 10)},
      {"positive", Int(&Dest::positive, 1)},
      {"color", Enum(&Dest::color, {{"red", Color::kRed}, {"green", Color::kGreen}})},
      {"interval", Duration(&Dest::interval, Seconds)},
      {"rate", Double(&Dest::rate, 0, 1e6)},
      {"inner-name", In(&Dest::inner, String(&Inner::name))},
  };
}

StatusOr<Dest> Parse(const std::vector<std::string>& args) {
  Dest d;
  StatusOr<Outcome> outcome = Flags().Parse(args, d);
  if (!outcome.ok()) return outcome.status();
  EXPECT_EQ(*outcome, Outcome::kRun);
  return d;
}

// The message of a refusal, which must be Invalid.
std::string Error(const std::vector<std::string>& args) {
  StatusOr<Dest> d = Parse(args);
  EXPECT_FALSE(d.ok());
  EXPECT_EQ(d.status().reason(), Reason::kInvalid) << d.status().ToString();
  return d.status().message();
}

TEST(FlagsTest, DefaultsStayWithoutFlags) {
  StatusOr<Dest> d = Parse({});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->text, "default");
  EXPECT_FALSE(d->on);
  EXPECT_EQ(d->count, 1);
}

TEST(FlagsTest, EqualsAndSeparateValues) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--text=a b", "--count=3", "--color=green", "--rate=2.5"},
        std::vector<std::string>{"--text", "a b", "--count", "3", "--color", "green", "--rate", "2.5"}}) {
    StatusOr<Dest> d = Parse(args);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->text, "a b");
    EXPECT_EQ(d->count, 3);
    EXPECT_EQ(d->color, Color::kGreen);
    EXPECT_EQ(d->rate, 2.5);
  }
}

TEST(FlagsTest, AValueMayBeEmptyOrLookLikeAFlag) {
  StatusOr<Dest> empty = Parse({"--text="});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->text, "");
  StatusOr<Dest> dashes = Parse({"--text", "--on"});
  ASSERT_TRUE(dashes.ok());
  EXPECT_EQ(dashes->text, "--on");
  EXPECT_FALSE(dashes->on);
  StatusOr<Dest> equals = Parse({"--text=a=b"});
  ASSERT_TRUE(equals.ok());
  EXPECT_EQ(equals->text, "a=b");
}

TEST(FlagsTest, Booleans) {
  StatusOr<Dest> bare = Parse({"--on", "--count=2"});
  ASSERT_TRUE(bare.ok()) << bare.status().ToString();
  EXPECT_TRUE(bare->on);
  EXPECT_EQ(bare->count, 2) << "a bare boolean does not take the next argument";
  for (auto [value, want] : {std::pair{"true", true}, std::pair{"1", true}, std::pair{"false", false},
                             std::pair{"0", false}}) {
    StatusOr<Dest> d = Parse({"--on", "--on=" + std::string(value)});
    ASSERT_TRUE(d.ok()) << value;
    EXPECT_EQ(d->on, want) << value;
  }
  EXPECT_EQ(Error({"--on=yes"}), "--on: \"yes\" is not true or false");
  EXPECT_THAT(Error({"--on", "false"}), HasSubstr("unexpected argument \"false\""))
      << "a boolean's value is given with '='";
}

TEST(FlagsTest, CheckedStringsAreNormalised) {
  StatusOr<Dest> d = Parse({"--hex=10DE"});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->hex, "10de");
  EXPECT_EQ(Error({"--hex=xyz"}), "--hex: \"xyz\" is not hex");
}

TEST(FlagsTest, RepeatedListFlagsAppend) {
  StatusOr<Dest> d = Parse({"--item=a", "--item", "B", "--item=c"});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->items, (std::vector<std::string>{"a", "B", "c"})) << "checked, not normalised";
  EXPECT_EQ(Error({"--item=a", "--item=g"}), "--item: \"g\" is not hex");
}

TEST(FlagsTest, RepeatedScalarFlagsTakeTheLast) {
  StatusOr<Dest> d = Parse({"--count=2", "--count=5"});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->count, 5);
}

TEST(FlagsTest, IntegersInRange) {
  StatusOr<Dest> d = Parse({"--count=0", "--positive=2147483647"});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->count, 0);
  EXPECT_EQ(d->positive, 2147483647);
  EXPECT_EQ(Error({"--count=11"}), "--count: \"11\" is not an integer in [0, 10]");
  EXPECT_EQ(Error({"--count=-1"}), "--count: \"-1\" is not an integer in [0, 10]");
  for (const char* bad : {"--count=2x", "--count=", "--count= 2", "--count=+2", "--count=99999999999999999999"}) {
    EXPECT_THAT(Error({bad}), HasSubstr("--count: ")) << bad;
  }
  EXPECT_EQ(Error({"--positive=0"}), "--positive: \"0\" is not an integer of at least 1");
}

TEST(FlagsTest, Doubles) {
  StatusOr<Dest> d = Parse({"--rate=1e6"});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->rate, 1e6);
  EXPECT_EQ(Error({"--rate=-1"}), "--rate: \"-1\" is not a number in [0, 1000000]");
  for (const char* bad : {"--rate=fast", "--rate=nan", "--rate=inf", "--rate=1000001", "--rate="}) {
    EXPECT_THAT(Error({bad}), HasSubstr("--rate: ")) << bad;
  }
}

TEST(FlagsTest, Enums) {
  EXPECT_EQ(Error({"--color=blue"}), "--color: \"blue\" is not one of red, green");
  EXPECT_THAT(Error({"--color=Red"}), HasSubstr("--color")) << "names are exact";
}

TEST(FlagsTest, Durations) {
  StatusOr<Dest> d = Parse({"--interval=90s"});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->interval, std::chrono::seconds(90));
  for (const char* bad : {"--interval=0s", "--interval=90", "--interval=-1s"}) {
    EXPECT_THAT(Error({bad}), HasSubstr("is not a positive duration")) << bad;
  }
}

TEST(FlagsTest, NestedStructs) {
  StatusOr<Dest> d = Parse({"--inner-name=x"});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->inner.name, "x");

  struct Outer {
    Dest dest;
  };
  FlagSet<Outer> outer(&Outer::dest, Flags());
  Outer o;
  ASSERT_TRUE(outer.Parse({"--count=4", "--inner-name=y", "--on"}, o).ok());
  EXPECT_EQ(o.dest.count, 4);
  EXPECT_EQ(o.dest.inner.name, "y");
  EXPECT_TRUE(o.dest.on) << "still a boolean inside";
}

TEST(FlagsTest, Refusals) {
  EXPECT_EQ(Error({"--nope=1"}), "unknown flag --nope");
  EXPECT_EQ(Error({"--nope"}), "unknown flag --nope");
  EXPECT_EQ(Error({"--" + std::string(1000, 'x')}), "unknown flag --" + std::string(64, 'x'));
  EXPECT_EQ(Error({"--text"}), "--text: needs a value");
  EXPECT_EQ(Error({"--count=1", "--count"}), "--count: needs a value");
  for (const char* stray : {"stray", "-v", "--", "-"}) {
    EXPECT_THAT(Error({stray}), HasSubstr("unexpected argument")) << stray;
  }
  EXPECT_LT(Error({"--text=a", std::string(100000, 'y')}).size(), 200u) << "a long value is cut short";
  EXPECT_EQ(Error({"--hex=" + std::string(100, 'z')}), "--hex: \"" + std::string(64, 'z') + "...\" is not hex");
}

TEST(FlagsTest, HelpAndVersionEndTheParse) {
  for (const char* help : {"--help", "-h"}) {
    Dest d;
    StatusOr<Outcome> outcome = Flags().Parse({"--count=2", help, "--bogus"}, d);
    ASSERT_TRUE(outcome.ok()) << help << ": " << outcome.status().ToString();
    EXPECT_EQ(*outcome, Outcome::kHelp) << help;
  }
  Dest d;
  StatusOr<Outcome> version = Flags().Parse({"--version", "--count=99"}, d);
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, Outcome::kVersion);
  EXPECT_FALSE(Flags().Parse({"--bogus", "--help"}, d).ok()) << "an error before --help stands";
}

TEST(FlagsTest, AddReplacesOrExtends) {
  FlagSet<Dest> flags = Flags();
  flags.Add("count", Int(&Dest::count, 0, 3));
  flags.Add("also-on", Bool(&Dest::on));
  Dest d;
  EXPECT_FALSE(flags.Parse({"--count=4"}, d).ok());
  ASSERT_TRUE(flags.Parse({"--also-on"}, d).ok());
  EXPECT_TRUE(d.on);
}

TEST(FlagsTest, FindValuesReadsOneFlagBySyntaxAlone) {
  EXPECT_EQ(FindValues({"--bogus", "--log", "/a", "--log=/b", "--logx=/c", "--log"}, "log"),
            (std::vector<std::string>{"/a", "/b"}));
  EXPECT_TRUE(FindValues({}, "log").empty());
}

}  // namespace
}  // namespace hf::kube::flags
