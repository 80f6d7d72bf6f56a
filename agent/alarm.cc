#include "agent/alarm.h"

#include <string>

#include "kube/thread_name.h"

namespace hf::agent {

Alarm::Alarm(kube::Clock& clock, std::function<void()> ring, std::string_view thread_name)
    : clock_(clock), ring_(std::move(ring)), thread_([this, name = std::string(thread_name)] {
        kube::SetThreadName(name);
        Run();
      }) {}

Alarm::~Alarm() {
  {
    kube::MutexLock l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Alarm::Set(kube::Clock::TimePoint deadline) {
  {
    kube::MutexLock l(mu_);
    if (deadline_ == deadline) return;
    deadline_ = deadline;
  }
  cv_.notify_all();
}

void Alarm::Run() {
  kube::MutexLock l(mu_);
  while (!stopping_) {
    if (!deadline_) {
      // Nothing to time: an untimed wait, so a FakeClock does not count the
      // alarm among its waiters.
      cv_.wait(l.native());
      continue;
    }
    if (clock_.Now() < *deadline_) {
      clock_.WaitUntil(l.native(), cv_, *deadline_);
      continue;
    }
    deadline_.reset();
    l.Unlock();
    ring_();
    l.Lock();
  }
}

}  // namespace hf::agent
