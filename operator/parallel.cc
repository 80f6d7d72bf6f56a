#include "operator/parallel.h"

#include <algorithm>
#include <atomic>

namespace hf::controller {
namespace {

// One ParallelFor call. Helpers that start after the caller has finished
// (`closed`) leave at once, so the caller never waits for a busy pool.
struct Job {
  const std::function<kube::Status(size_t)>* fn;
  std::vector<kube::Status> results;
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::condition_variable done;
  int active = 0;       // guarded by mu: helpers inside Run
  bool closed = false;  // guarded by mu

  void Run() {
    for (size_t i; (i = next.fetch_add(1)) < results.size();) results[i] = (*fn)(i);
  }
};

}  // namespace

TaskPool::TaskPool(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

TaskPool::~TaskPool() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void TaskPool::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [this] { return stop_ || !tasks_.empty(); });
    if (tasks_.empty()) return;  // stopping, nothing left
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    l.unlock();
    task();
    l.lock();
  }
}

std::vector<kube::Status> TaskPool::ParallelFor(size_t n, int concurrency,
                                                const std::function<kube::Status(size_t)>& fn) {
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->results.resize(n);
  size_t helpers = std::min({n, static_cast<size_t>(std::max(1, concurrency)), threads_.size() + 1}) - 1;
  if (n > 0 && helpers > 0) {
    {
      std::lock_guard<std::mutex> l(mu_);
      for (size_t h = 0; h < helpers; ++h) {
        tasks_.emplace_back([job] {
          {
            std::lock_guard<std::mutex> jl(job->mu);
            if (job->closed) return;
            ++job->active;
          }
          job->Run();
          std::lock_guard<std::mutex> jl(job->mu);
          if (--job->active == 0) job->done.notify_all();
        });
      }
    }
    cv_.notify_all();
  }
  job->Run();
  std::unique_lock<std::mutex> jl(job->mu);
  job->closed = true;
  job->done.wait(jl, [&] { return job->active == 0; });
  return std::move(job->results);
}

}  // namespace hf::controller
