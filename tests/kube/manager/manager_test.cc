#include "kube/manager/manager.h"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>

#include "tests/kube/testing/fake_transport.h"

namespace hf::kube {
namespace {

// A cache whose sync the test controls.
class ManualSync : public Syncable {
 public:
  bool HasSynced() const override { return synced_.load(); }
  bool WaitForSync(std::stop_token) const override { return synced_.load(); }
  void Set() { synced_.store(true); }

 private:
  std::atomic<bool> synced_{false};
};

int Get(int port, const std::string& path) {
  CURL* h = curl_easy_init();
  std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, +[](char*, size_t s, size_t n, void*) { return s * n; });
  long code = 0;
  if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(h);
  return static_cast<int>(code);
}

TEST(ManagerTest, RunsCachesAndLeaderRunnablesAndServesProbes) {
  Manager mgr(ManagerOptions{"127.0.0.1:0", false, {}});
  ManualSync sync;
  std::latch cache_started(1), leader_started(1);
  std::atomic<bool> cache_stopped{false}, leader_stopped{false};
  mgr.AddCache(
      [&](std::stop_token st) {
        cache_started.count_down();
        std::mutex mu;
        std::condition_variable_any cv;
        std::unique_lock l(mu);
        cv.wait(l, st, [] { return false; });
        cache_stopped = true;
      },
      &sync);
  mgr.AddLeaderRunnable("controller", [&](std::stop_token st) {
    leader_started.count_down();
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock l(mu);
    cv.wait(l, st, [] { return false; });
    leader_stopped = true;
  });

  auto transport = std::make_shared<testing::FakeTransport>();
  Client client(transport);
  std::stop_source stop;
  Status result;
  std::thread run([&] { result = mgr.Run(client, stop.get_token()); });
  cache_started.wait();
  leader_started.wait();
  int port = mgr.http().port();
  ASSERT_GT(port, 0);
  EXPECT_EQ(Get(port, "/healthz"), 200);
  EXPECT_EQ(Get(port, "/readyz"), 500);  // cache not synced
  sync.Set();
  EXPECT_EQ(Get(port, "/readyz"), 200);
  EXPECT_EQ(Get(port, "/metrics"), 200);

  stop.request_stop();
  run.join();
  EXPECT_TRUE(result.ok()) << result.ToString();
  EXPECT_TRUE(cache_stopped);
  EXPECT_TRUE(leader_stopped);
  EXPECT_EQ(Get(port, "/healthz"), 0);  // server stopped
}

TEST(ManagerTest, PortInUseIsAnError) {
  Manager first(ManagerOptions{"127.0.0.1:0", false, {}});
  ASSERT_TRUE(first.http().Start().ok());
  Manager second(ManagerOptions{"127.0.0.1:" + std::to_string(first.http().port()), false, {}});
  Client client(std::make_shared<testing::FakeTransport>());
  Status st = second.Run(client, std::stop_token());
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("cannot bind"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace hf::kube
