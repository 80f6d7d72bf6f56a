// ParallelFor: runs fn(0..n-1) on at most `concurrency` threads and returns
// each call's Status, for label patches across thousands of nodes without a
// thread per node.
//
// Thread-safety: fn must be safe to call concurrently.
#ifndef HF_OPERATOR_PARALLEL_H_
#define HF_OPERATOR_PARALLEL_H_

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "kube/status.h"

namespace hf::controller {

inline std::vector<kube::Status> ParallelFor(size_t n, int concurrency,
                                             const std::function<kube::Status(size_t)>& fn) {
  std::vector<kube::Status> results(n);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) results[i] = fn(i);
  };
  size_t threads = std::min<size_t>(n, static_cast<size_t>(std::max(1, concurrency)));
  if (threads <= 1) {
    work();
    return results;
  }
  std::vector<std::jthread> pool;
  for (size_t t = 0; t < threads; ++t) pool.emplace_back(work);
  return (pool.clear(), results);
}

}  // namespace hf::controller

#endif  // HF_OPERATOR_PARALLEL_H_
