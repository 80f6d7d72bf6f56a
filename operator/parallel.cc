#include "operator/parallel.h"

#include "kube/thread_name.h"

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
  kube::Mutex mu;
  std::condition_variable done;
  int active HF_GUARDED_BY(mu) = 0;  // helpers inside Run
  bool closed HF_GUARDED_BY(mu) = false;

  void Run() {
    for (size_t i; (i = next.fetch_add(1)) < results.size();) results[i] = (*fn)(i);
  }
};

}  // namespace

TaskPool::TaskPool(int threads) {
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      kube::SetThreadName("task-pool");
      Loop();
    });
  }
}

TaskPool::~TaskPool() {
  {
    kube::MutexLock l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void TaskPool::Loop() {
  kube::MutexLock l(mu_);
  for (;;) {
    while (!stop_ && tasks_.empty()) cv_.wait(l.native());
    if (tasks_.empty()) return;  // stopping, nothing left
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    l.Unlock();
    task();
    l.Lock();
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
      kube::MutexLock l(mu_);
      for (size_t h = 0; h < helpers; ++h) {
        tasks_.emplace_back([job] {
          {
            kube::MutexLock jl(job->mu);
            if (job->closed) return;
            ++job->active;
          }
          job->Run();
          kube::MutexLock jl(job->mu);
          if (--job->active == 0) job->done.notify_all();
        });
      }
    }
    cv_.notify_all();
  }
  job->Run();
  kube::MutexLock jl(job->mu);
  job->closed = true;
  while (job->active != 0) job->done.wait(jl.native());
  return std::move(job->results);
}

}  // namespace hf::controller
