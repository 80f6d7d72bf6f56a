// Compiled by clang with -Wthread-safety -Werror in the
// kube_thread_safety_* tests, never linked. Without VIOLATION it is correct
// locking and must compile cleanly; each VIOLATION is a mistake that
// kube/mutex.h's annotations turn into a build error.
#include "kube/mutex.h"

namespace {

class Counter {
 public:
  void Add() {
    hf::kube::MutexLock l(mu_);
    AddLocked();
  }

  int Read() const {
#if VIOLATION == 1  // reads a guarded field without its mutex
    return count_;
#else
    hf::kube::MutexLock l(mu_);
    return count_;
#endif
  }

  void AddTwice() {
#if VIOLATION == 2  // calls a ...Locked function without the mutex
    AddLocked();
#else
    hf::kube::MutexLock l(mu_);
    AddLocked();
#endif
    Add();
  }

  void AddAroundCallback(void (*callback)()) {
    hf::kube::MutexLock l(mu_);
    l.Unlock();
    callback();
#if VIOLATION == 3  // writes after releasing the lock for a callback
    ++count_;
    l.Lock();
#else
    l.Lock();
    ++count_;
#endif
  }

  int ReadShared() {
#if VIOLATION == 4  // writes under a reader lock
    hf::kube::ReaderLock l(shared_mu_);
    return ++shared_count_;
#else
    {
      hf::kube::WriterLock w(shared_mu_);
      ++shared_count_;
    }
    hf::kube::ReaderLock l(shared_mu_);
    return shared_count_;
#endif
  }

 private:
  void AddLocked() HF_REQUIRES(mu_) { ++count_; }

  mutable hf::kube::Mutex mu_;
  int count_ HF_GUARDED_BY(mu_) = 0;
  hf::kube::SharedMutex shared_mu_;
  int shared_count_ HF_GUARDED_BY(shared_mu_) = 0;
};

}  // namespace

int UseCounter() {
  Counter c;
  c.Add();
  c.AddTwice();
  c.AddAroundCallback([] {});
  return c.Read() + c.ReadShared();
}
