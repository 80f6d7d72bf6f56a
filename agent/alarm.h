// Alarm: rings (calls `ring`, on a thread of its own) once the clock reaches
// the deadline last set. It is for a thread that blocks where a clock cannot
// wake it, as the Registrar and the HealthMonitor do in poll(2) on their
// Inotify: their alarm interrupts the Inotify, so their timing follows the
// injected kube::Clock and a FakeClock's Step drives it in tests. A
// deadline rings once; Set replaces one that has not rung, earlier or
// later, and setting the pending deadline again does nothing.
//
// Thread-safety: Set from any thread, `ring` included. `ring` runs with no
// lock of the alarm's held. The destructor must not run on the alarm's
// thread.
#ifndef HF_AGENT_ALARM_H_
#define HF_AGENT_ALARM_H_

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

#include "kube/clock.h"
#include "kube/mutex.h"

namespace hf::agent {

class Alarm {
 public:
  // `thread_name` names its thread (kube::SetThreadName).
  Alarm(kube::Clock& clock, std::function<void()> ring, std::string_view thread_name = "alarm");
  // Joins the thread; a deadline not reached by then never rings.
  ~Alarm();

  Alarm(const Alarm&) = delete;
  Alarm& operator=(const Alarm&) = delete;

  void Set(kube::Clock::TimePoint deadline);

 private:
  void Run();

  kube::Clock& clock_;
  const std::function<void()> ring_;
  kube::Mutex mu_;
  std::condition_variable cv_;
  std::optional<kube::Clock::TimePoint> deadline_ HF_GUARDED_BY(mu_);  // none once rung
  bool stopping_ HF_GUARDED_BY(mu_) = false;
  std::thread thread_;                              // last: starts once the rest exists
};

}  // namespace hf::agent

#endif  // HF_AGENT_ALARM_H_
