#include "kube/log/logging.h"

#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

namespace hf::kube {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

struct Captured {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> logger;
};

std::unique_ptr<Captured> Capture(const LogOptions& options) {
  auto captured = std::make_unique<Captured>();
  auto logger =
      NewLogger(options, std::make_shared<spdlog::sinks::ostream_sink_st>(captured->out));
  EXPECT_TRUE(logger.ok()) << logger.status().ToString();
  if (logger.ok()) captured->logger = *logger;
  return captured;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(ParseLogLevelTest, AcceptsTheFlagValues) {
  EXPECT_EQ(*ParseLogLevel("debug"), spdlog::level::debug);
  EXPECT_EQ(*ParseLogLevel("info"), spdlog::level::info);
  EXPECT_EQ(*ParseLogLevel("warn"), spdlog::level::warn);
  EXPECT_EQ(*ParseLogLevel("error"), spdlog::level::err);
}

TEST(ParseLogLevelTest, UnknownLevelNamesTheChoices) {
  const auto level = ParseLogLevel("verbose");
  ASSERT_FALSE(level.ok());
  EXPECT_TRUE(IsInvalid(level.status()));
  EXPECT_THAT(level.status().message(), HasSubstr("\"verbose\""));
  EXPECT_THAT(level.status().message(), HasSubstr("debug, info, warn or error"));
  EXPECT_FALSE(ParseLogLevel("INFO").ok());
}

TEST(NewLoggerTest, RejectsUnknownFormatAndEmptyComponent) {
  auto sink = std::make_shared<spdlog::sinks::null_sink_st>();
  const auto bad_format = NewLogger({.format = "yaml", .component = "c"}, sink);
  EXPECT_TRUE(IsInvalid(bad_format.status()));
  EXPECT_THAT(bad_format.status().message(), HasSubstr("want text or json"));
  EXPECT_TRUE(IsInvalid(NewLogger({.level = "loud", .component = "c"}, sink).status()));
  EXPECT_TRUE(IsInvalid(NewLogger({.component = ""}, sink).status()));
}

TEST(NewLoggerTest, JsonLinesStayValidForAnyMessage) {
  auto captured = Capture({.level = "info", .format = "json", .component = "agent \"x\""});
  ASSERT_NE(captured->logger, nullptr);
  const std::string nasty = "say \"hi\"\nback\\slash\ttab \x01 brace {} end";
  captured->logger->info(nasty);
  captured->logger->warn("count {}", 3);
  captured->logger->error("bad byte \xff here");

  const std::vector<std::string> lines = Lines(captured->out.str());
  ASSERT_EQ(lines.size(), 3u) << captured->out.str();
  const auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first.at("msg"), nasty);
  EXPECT_EQ(first.at("level"), "info");
  EXPECT_EQ(first.at("logger"), "agent \"x\"");
  EXPECT_THAT(first.at("ts").get<std::string>(),
              MatchesRegex(R"(20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\.[0-9][0-9][0-9]Z)"));
  const auto second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(second.at("msg"), "count 3");
  EXPECT_EQ(second.at("level"), "warn");
  // Invalid UTF-8 is replaced, not passed through to break the line.
  const auto third = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(third.at("level"), "error");
  EXPECT_THAT(third.at("msg").get<std::string>(), HasSubstr("bad byte"));
  // Field order is fixed so lines read well in a terminal too.
  EXPECT_EQ(lines[1].rfind("{\"ts\":", 0), 0u);
}

TEST(NewLoggerTest, LevelFiltersLowerSeverities) {
  auto captured = Capture({.level = "warn", .format = "json", .component = "c"});
  ASSERT_NE(captured->logger, nullptr);
  captured->logger->debug("debug line");
  captured->logger->info("info line");
  captured->logger->warn("warn line");
  captured->logger->error("error line");
  const std::vector<std::string> lines = Lines(captured->out.str());
  ASSERT_EQ(lines.size(), 2u) << captured->out.str();
  EXPECT_EQ(nlohmann::json::parse(lines[0]).at("msg"), "warn line");
  EXPECT_EQ(nlohmann::json::parse(lines[1]).at("msg"), "error line");
}

TEST(NewLoggerTest, TextIsOneReadableLine) {
  auto captured = Capture({.level = "debug", .format = "text", .component = "operator"});
  ASSERT_NE(captured->logger, nullptr);
  captured->logger->debug("reconciled {}", "pool-a");
  EXPECT_THAT(captured->out.str(),
              MatchesRegex(R"([0-9-]+T[0-9:]+\.[0-9][0-9][0-9]Z \[debug\] operator: reconciled pool-a
)"));
}

TEST(InitLoggingTest, InstallsTheDefaultLogger) {
  EXPECT_TRUE(IsInvalid(InitLogging({.format = "xml", .component = "c"})));
  ASSERT_TRUE(InitLogging({.level = "error", .format = "json", .component = "hf-test"}).ok());
  EXPECT_EQ(spdlog::default_logger()->name(), "hf-test");
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::err);
}

}  // namespace
}  // namespace hf::kube
