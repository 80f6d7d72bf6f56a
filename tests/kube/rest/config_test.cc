#include "kube/rest/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "kube/base64.h"

namespace hf::kube {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hf-config-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  fs::path dir_;
};

constexpr char kTwoContexts[] = R"(
apiVersion: v1
kind: Config
current-context: admin
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: Q0EtUEVN
contexts:
- name: admin
  context: {cluster: local, user: admin}
- name: robot
  context: {cluster: local, user: robot}
users:
- name: admin
  user:
    client-certificate: admin.crt
    client-key-data: S0VZ
- name: robot
  user:
    token: s3cret
)";

TEST_F(ConfigTest, CurrentContextWithInlineAndFileCredentials) {
  Write("admin.crt", "CERT");
  auto cfg = ParseKubeconfig(kTwoContexts, dir_.string());
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->host, "https://127.0.0.1:6443");
  EXPECT_EQ(cfg->ca_pem, "CA-PEM");
  auto creds = cfg->credentials->Get();
  ASSERT_TRUE(creds.ok());
  EXPECT_EQ(creds->cert_pem, "CERT");
  EXPECT_EQ(creds->key_pem, "KEY");
  EXPECT_TRUE(creds->token.empty());
}

TEST_F(ConfigTest, NamedContextWithToken) {
  auto cfg = ParseKubeconfig(kTwoContexts, dir_.string(), "robot");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->credentials->Get()->token, "s3cret");
}

TEST_F(ConfigTest, ClearErrorsForBadInput) {
  EXPECT_NE(ParseKubeconfig(kTwoContexts, dir_.string(), "nope").status().message().find("no context named 'nope'"),
            std::string::npos);
  EXPECT_NE(ParseKubeconfig("{{{", "").status().message().find("not valid YAML"), std::string::npos);
  std::string insecure = R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://h:1", insecure-skip-tls-verify: true}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users: [{name: u, user: {token: t}}]
)";
  auto st = ParseKubeconfig(insecure, "").status();
  EXPECT_TRUE(IsInvalid(st));
  EXPECT_NE(st.message().find("always verifies TLS"), std::string::npos);
  std::string http = R"(
current-context: c
clusters: [{name: k, cluster: {server: "http://h:1"}}]
contexts: [{name: c, context: {cluster: k}}]
)";
  EXPECT_NE(ParseKubeconfig(http, "").status().message().find("must be an https:// URL"), std::string::npos);
  // The cert file named in kTwoContexts does not exist in this test.
  EXPECT_NE(ParseKubeconfig(kTwoContexts, dir_.string()).status().message().find("admin.crt"), std::string::npos);
}

TEST_F(ConfigTest, TokenFileIsReReadWhenItRotates) {
  std::string path = Write("token", "first\n");
  FakeClock clock;
  TokenFileCredentials creds(path, clock, std::chrono::minutes(1));
  EXPECT_EQ(creds.Get()->token, "first");
  Write("token", "second\n");
  // Either the mtime change or the max age makes it re-read; step past both.
  clock.Step(std::chrono::minutes(2));
  EXPECT_EQ(creds.Get()->token, "second");
  fs::remove(path);
  EXPECT_EQ(creds.Get()->token, "second");  // keeps the last good one while the file is swapped
}

TEST_F(ConfigTest, ExecPluginCredentialIsCachedUntilExpiry) {
  std::string counter = (dir_ / "runs").string();
  std::string script = Write("plugin.sh", "#!/bin/sh\n"
                                          "echo x >> '" + counter + "'\n"
                                          "[ -n \"$KUBERNETES_EXEC_INFO\" ] || exit 3\n"
                                          "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
                                          "\"status\":{\"token\":\"'$HF_TOKEN'\",\"expirationTimestamp\":\"2026-01-01T00:10:00Z\"}}'\n");
  ::chmod(script.c_str(), 0755);
  FakeClock clock;  // wall clock starts at 2026-01-01T00:00:00Z
  ExecCredentials creds({script, {}, {{"HF_TOKEN", "from-exec"}}}, clock);
  ASSERT_EQ(creds.Get()->token, "from-exec");
  ASSERT_EQ(creds.Get()->token, "from-exec");
  auto runs = [&] {
    std::ifstream in(counter);
    return std::count(std::istreambuf_iterator<char>(in), {}, '\n');
  };
  EXPECT_EQ(runs(), 1);
  clock.Step(std::chrono::minutes(11));
  ASSERT_TRUE(creds.Get().ok());
  EXPECT_EQ(runs(), 2);
}

TEST_F(ConfigTest, ExecPluginFailuresAreClear) {
  FakeClock clock;
  ExecCredentials missing({"/nonexistent/plugin", {}, {}}, clock);
  EXPECT_NE(missing.Get().status().message().find("could not start"), std::string::npos);
  std::chrono::system_clock::time_point exp;
  EXPECT_FALSE(ParseExecCredential(R"({"kind":"Other"})", &exp).ok());
  EXPECT_FALSE(ParseExecCredential(R"({"kind":"ExecCredential","status":{}})", &exp).ok());
  EXPECT_FALSE(ParseExecCredential(
      R"({"kind":"ExecCredential","status":{"clientCertificateData":"C"}})", &exp).ok());
}

TEST_F(ConfigTest, InClusterReadsEnvAndServiceAccountFiles) {
  InClusterPaths p{Write("token", "sa-token"), Write("ca.crt", "CA"), Write("namespace", "hashfoundry-system\n")};
  ::setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto cfg = InClusterConfig(p);
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->host, "https://10.96.0.1:443");
  EXPECT_EQ(cfg->ca_pem, "CA");
  EXPECT_EQ(cfg->credentials->Get()->token, "sa-token");
  EXPECT_EQ(InClusterNamespace(p), "hashfoundry-system");
  EXPECT_FALSE(InClusterConfig(p).ok());  // env gone: not in a cluster
}

TEST(Base64Test, RoundTripsAndRejectsGarbage) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    auto back = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_FALSE(Base64Decode("Zm9v!").has_value());
  EXPECT_FALSE(Base64Decode("Zg==Zg").has_value());
}

TEST(Rfc3339Test, ParsesAndFormats) {
  std::chrono::system_clock::time_point t;
  ASSERT_TRUE(ParseRfc3339("2026-01-02T03:04:05.123456Z", &t));
  EXPECT_EQ(FormatRfc3339(t, true), "2026-01-02T03:04:05.123456Z");
  EXPECT_EQ(FormatRfc3339(t), "2026-01-02T03:04:05Z");
  ASSERT_TRUE(ParseRfc3339("2026-01-02T05:04:05+02:00", &t));
  EXPECT_EQ(FormatRfc3339(t), "2026-01-02T03:04:05Z");
  EXPECT_FALSE(ParseRfc3339("yesterday", &t));
}

}  // namespace
}  // namespace hf::kube
