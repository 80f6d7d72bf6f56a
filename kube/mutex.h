// Mutex and MutexLock: std::mutex and std::unique_lock with clang's
// thread-safety annotations, so a rule such as "guarded by mu_" is a
// declaration the compiler checks rather than a comment:
//
//   mutable Mutex mu_;
//   int count_ HF_GUARDED_BY(mu_);
//   void BumpLocked() HF_REQUIRES(mu_);
//
// The clang preset builds with -Wthread-safety -Werror, so reading count_
// without holding mu_, or calling BumpLocked without it, fails the build.
// Under GCC the macros expand to nothing and the types cost what the std
// ones do.
//
// Waiting: std::condition_variable and Clock::WaitUntil take the
// std::unique_lock inside a MutexLock (native()). They release the mutex
// while blocked and hold it again on return, which is all the analysis
// needs to know; write the wait as a loop over the condition in the locked
// function (`while (!ready_) cv_.wait(lock.native());`) so the condition is
// checked too, rather than as a predicate lambda, which the analysis reads
// as a separate function that holds nothing.
//
// Thread-safety: Mutex is a mutex; a MutexLock belongs to one thread.
#ifndef HF_KUBE_MUTEX_H_
#define HF_KUBE_MUTEX_H_

#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define HF_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define HF_THREAD_ANNOTATION(x)
#endif

// On a class: it is a lock ("mutex").
#define HF_CAPABILITY(x) HF_THREAD_ANNOTATION(capability(x))
// On a class: RAII, holds what its constructor acquired until destroyed.
#define HF_SCOPED_CAPABILITY HF_THREAD_ANNOTATION(scoped_lockable)
// On a member: read or written only with the lock held.
#define HF_GUARDED_BY(x) HF_THREAD_ANNOTATION(guarded_by(x))
// On a pointer member: what it points at is guarded.
#define HF_PT_GUARDED_BY(x) HF_THREAD_ANNOTATION(pt_guarded_by(x))
// On a function: the caller holds these locks (the "...Locked" functions).
#define HF_REQUIRES(...) HF_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define HF_REQUIRES_SHARED(...) HF_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
// On a function: the caller must not hold these; the function takes them.
#define HF_EXCLUDES(...) HF_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define HF_ACQUIRE(...) HF_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define HF_ACQUIRE_SHARED(...) HF_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define HF_RELEASE(...) HF_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define HF_RELEASE_GENERIC(...) HF_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define HF_TRY_ACQUIRE(...) HF_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define HF_ASSERT_CAPABILITY(x) HF_THREAD_ANNOTATION(assert_capability(x))
// On a function returning a reference to a lock: which lock that is.
#define HF_RETURN_CAPABILITY(x) HF_THREAD_ANNOTATION(lock_returned(x))
// Opts one function out, for a locking pattern the analysis cannot follow.
// Say why beside every use.
#define HF_NO_THREAD_SAFETY_ANALYSIS HF_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace hf::kube {

class HF_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() HF_ACQUIRE() { mu_.lock(); }
  void Unlock() HF_RELEASE() { mu_.unlock(); }
  bool TryLock() HF_TRY_ACQUIRE(true) { return mu_.try_lock(); }

  // The std::mutex underneath, for MutexLock.
  std::mutex& native() HF_RETURN_CAPABILITY(this) { return mu_; }

 private:
  std::mutex mu_;
};

// Holds a Mutex for its scope; Unlock and Lock release and retake it inside
// that scope (for work that must run unlocked, such as a callback).
class HF_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) HF_ACQUIRE(mu) : lock_(mu.native()) {}
  ~MutexLock() HF_RELEASE() {}

  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() HF_RELEASE() { lock_.unlock(); }
  void Lock() HF_ACQUIRE() { lock_.lock(); }

  // For std::condition_variable and Clock::WaitUntil; see the top of this
  // file.
  std::unique_lock<std::mutex>& native() { return lock_; }

 private:
  std::unique_lock<std::mutex> lock_;
};

// A readers-writer lock: MutexLock-like WriterLock for writers, ReaderLock
// for any number of readers at once.
class HF_CAPABILITY("mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void Lock() HF_ACQUIRE() { mu_.lock(); }
  void Unlock() HF_RELEASE() { mu_.unlock(); }
  void LockShared() HF_ACQUIRE_SHARED() { mu_.lock_shared(); }
  void UnlockShared() HF_RELEASE_GENERIC() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

class HF_SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex& mu) HF_ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~WriterLock() HF_RELEASE() { mu_.Unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex& mu_;
};

class HF_SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex& mu) HF_ACQUIRE_SHARED(mu) : mu_(mu) { mu_.LockShared(); }
  ~ReaderLock() HF_RELEASE_GENERIC() { mu_.UnlockShared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex& mu_;
};

}  // namespace hf::kube

#endif  // HF_KUBE_MUTEX_H_
