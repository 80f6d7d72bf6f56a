// HeapTrimmer: gives the C library's free heap back to the kernel once the
// process has been quiet for a while.
//
// glibc keeps memory freed by a burst of work (a re-list, a hundred pools
// created and deleted) in its arenas, one per thread that allocated, so a
// long-running controller's RSS ratchets up with each burst while the heap in
// use stays flat (bench/RESULTS.md, churn). Touch() after each unit of work;
// `quiet` after the last one, the trim runs once: malloc_trim(0) returns
// every arena's free pages. At rest nothing wakes up.
//
// Thread-safety: Touch from any thread. The destructor stops the worker.
#ifndef HF_KUBE_METRICS_HEAP_TRIMMER_H_
#define HF_KUBE_METRICS_HEAP_TRIMMER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "kube/clock.h"

namespace hf::kube {

class HeapTrimmer {
 public:
  // `trim` defaults to malloc_trim(0); tests pass their own.
  explicit HeapTrimmer(Clock& clock, Clock::Duration quiet = std::chrono::seconds(1),
                       std::function<void()> trim = nullptr);
  ~HeapTrimmer();
  HeapTrimmer(const HeapTrimmer&) = delete;
  HeapTrimmer& operator=(const HeapTrimmer&) = delete;

  // Work happened: trim once `quiet` has passed with no further Touch.
  void Touch();

  // How many trims have run.
  uint64_t trims() const { return trims_.load(); }

 private:
  void Loop();

  Clock& clock_;
  const Clock::Duration quiet_;
  std::function<void()> trim_;
  std::atomic<uint64_t> trims_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  bool pending_ = false;       // guarded by mu_
  Clock::TimePoint last_{};    // guarded by mu_: the last Touch
  bool stop_ = false;          // guarded by mu_
  std::thread worker_;         // last: starts after the fields above
};

}  // namespace hf::kube

#endif  // HF_KUBE_METRICS_HEAP_TRIMMER_H_
