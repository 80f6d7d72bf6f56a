// TaskPool: a fixed set of threads, started once, for ParallelFor: fn(0..n-1)
// on at most `concurrency` threads, for label patches across thousands of
// nodes without a thread per node.
//
// Fixed, because threads that come and go with each call cost more than
// their start: each takes an allocator arena and its own pooled HTTP
// connections, and the freed memory stays with the allocator. With 16 new
// threads per reconcile, bench/run churn showed RSS rising round after
// round; on a fixed pool it does not (bench/RESULTS.md).
//
// Thread-safety: ParallelFor may be called from several threads at once;
// fn must be safe to call concurrently. The caller works on its own call's
// items too, so a call completes even while every pool thread serves others.
#ifndef HF_OPERATOR_PARALLEL_H_
#define HF_OPERATOR_PARALLEL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "kube/status.h"
#include "kube/mutex.h"

namespace hf::controller {

class TaskPool {
 public:
  explicit TaskPool(int threads);
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  // Each call's Status, by index. Runs on the caller and at most
  // concurrency-1 pool threads.
  std::vector<kube::Status> ParallelFor(size_t n, int concurrency, const std::function<kube::Status(size_t)>& fn);

  int threads() const { return static_cast<int>(threads_.size()); }

 private:
  void Loop();

  kube::Mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_ HF_GUARDED_BY(mu_);
  bool stop_ HF_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace hf::controller

#endif  // HF_OPERATOR_PARALLEL_H_
