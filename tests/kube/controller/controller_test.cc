#include "kube/controller/controller.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <condition_variable>
#include <deque>
#include <thread>

namespace hf::kube {
namespace {

// Answers Reconcile from a script and records the calls.
class ScriptedReconciler : public Reconciler {
 public:
  void Then(StatusOr<Result> r) {
    std::lock_guard<std::mutex> l(mu_);
    script_.push_back(std::move(r));
  }
  StatusOr<Result> Reconcile(const Request& req, std::stop_token) override {
    std::lock_guard<std::mutex> l(mu_);
    calls_.push_back(req.Key());
    cv_.notify_all();
    if (script_.empty()) return Result{};
    auto r = script_.front();
    script_.pop_front();
    if (!r.ok() && r.status().message() == "throw") throw std::runtime_error("boom");
    return r;
  }
  std::vector<std::string> WaitForCalls(size_t n) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return calls_.size() >= n; });
    return calls_;
  }
  size_t Calls() {
    std::lock_guard<std::mutex> l(mu_);
    return calls_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StatusOr<Result>> script_;
  std::vector<std::string> calls_;
};

class ControllerTest : public ::testing::Test {
 protected:
  std::unique_ptr<Controller> Make() {
    ControllerOptions o;
    o.name = "test";
    o.clock = &clock_;
    o.metrics = &metrics_;
    o.rate_limiter = std::make_unique<ItemExponentialFailureRateLimiter>(std::chrono::seconds(1),
                                                                          std::chrono::seconds(60));
    return std::make_unique<Controller>(std::move(o), rec_);
  }
  double Count(const std::string& result) {
    for (const auto& fam : registry_.Collect()) {
      if (fam.name != "controller_runtime_reconcile_total") continue;
      for (const auto& m : fam.metric) {
        for (const auto& l : m.label) {
          if (l.name == "result" && l.value == result) return m.counter.value;
        }
      }
    }
    return 0;
  }

  FakeClock clock_;
  prometheus::Registry registry_;
  Metrics metrics_{registry_};
  ScriptedReconciler rec_;
};

TEST_F(ControllerTest, DeduplicatesAndReconcilesByName) {
  auto c = Make();
  c->Enqueue({"", "a"});
  c->Enqueue({"", "a"});
  c->Enqueue({"ns", "b"});
  std::jthread run([&](std::stop_token st) { c->Start(st); });
  EXPECT_EQ(rec_.WaitForCalls(2), (std::vector<std::string>{"a", "ns/b"}));
  clock_.BlockUntilWaiters(1);  // idle worker
  EXPECT_EQ(rec_.Calls(), 2u);
  EXPECT_EQ(Count("success"), 2);
}

TEST_F(ControllerTest, ErrorsBackOffAndConflictsRequeue) {
  auto c = Make();
  rec_.Then(Status(Reason::kInternalError, "api down"));
  rec_.Then(Status(Reason::kConflict, "stale"));
  rec_.Then(Result{});
  c->Enqueue({"", "a"});
  std::jthread run([&](std::stop_token st) { c->Start(st); });
  rec_.WaitForCalls(1);
  clock_.BlockUntilWaiters(1);
  EXPECT_EQ(rec_.Calls(), 1u);       // not before the backoff
  clock_.Step(std::chrono::seconds(1));  // first failure: 1s
  rec_.WaitForCalls(2);
  clock_.BlockUntilWaiters(1);
  clock_.Step(std::chrono::seconds(1));
  EXPECT_EQ(rec_.Calls(), 2u);       // second failure backs off 2s
  clock_.Step(std::chrono::seconds(1));
  rec_.WaitForCalls(3);
  EXPECT_EQ(Count("error"), 2);
}

TEST_F(ControllerTest, RequeueAfterAndThrowingReconcilers) {
  auto c = Make();
  rec_.Then(Result{false, std::chrono::seconds(30)});
  rec_.Then(Status(Reason::kUnknown, "throw"));
  c->Enqueue({"", "a"});
  std::jthread run([&](std::stop_token st) { c->Start(st); });
  rec_.WaitForCalls(1);
  clock_.BlockUntilWaiters(1);
  clock_.Step(std::chrono::seconds(29));
  EXPECT_EQ(rec_.Calls(), 1u);
  clock_.Step(std::chrono::seconds(1));
  rec_.WaitForCalls(2);  // throws; the controller survives and backs off
  clock_.BlockUntilWaiters(1);
  clock_.Step(std::chrono::seconds(1));
  rec_.WaitForCalls(3);
  EXPECT_EQ(Count("requeue_after"), 1);
  EXPECT_EQ(Count("error"), 1);
}

TEST_F(ControllerTest, StopEndsWorkers) {
  auto c = Make();
  std::stop_source stop;
  std::thread run([&] { c->Start(stop.get_token()); });
  c->Enqueue({"", "x"});
  rec_.WaitForCalls(1);
  stop.request_stop();
  run.join();  // returns: the queue was shut down
  EXPECT_EQ(Request::FromKey("ns/n"), (Request{"ns", "n"}));
}

}  // namespace
}  // namespace hf::kube
