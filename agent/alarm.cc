#include "agent/alarm.h"

namespace hf::agent {

Alarm::Alarm(kube::Clock& clock, std::function<void()> ring)
    : clock_(clock), ring_(std::move(ring)), thread_([this] { Run(); }) {}

Alarm::~Alarm() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Alarm::Set(kube::Clock::TimePoint deadline) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (deadline_ == deadline) return;
    deadline_ = deadline;
  }
  cv_.notify_all();
}

void Alarm::Run() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stopping_) {
    if (!deadline_) {
      // Nothing to time: an untimed wait, so a FakeClock does not count the
      // alarm among its waiters.
      cv_.wait(l);
      continue;
    }
    if (clock_.Now() < *deadline_) {
      clock_.WaitUntil(l, cv_, *deadline_);
      continue;
    }
    deadline_.reset();
    l.unlock();
    ring_();
    l.lock();
  }
}

}  // namespace hf::agent
