// Inotify: a small owner of an inotify descriptor plus an eventfd, so a
// thread can wait for filesystem events or a wake-up from another thread in
// one poll(2). It has no timeout: a wait timed on a kube::Clock has an Alarm
// (alarm.h) call Interrupt.
//
// Thread-safety: Watch and Wait from one thread; Interrupt from any thread.
#ifndef HF_AGENT_INOTIFY_H_
#define HF_AGENT_INOTIFY_H_

#include <sys/inotify.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kube/status.h"

namespace hf::agent {

class Inotify {
 public:
  struct Event {
    int wd;
    uint32_t mask;
    std::string name;  // entry name within the watched directory; may be empty
  };

  // Changes to a directory's entries, and the directory itself going away.
  static constexpr uint32_t kDirectoryEvents = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |
                                               IN_DELETE_SELF | IN_MOVE_SELF;

  static kube::StatusOr<std::unique_ptr<Inotify>> Create();
  ~Inotify();

  Inotify(const Inotify&) = delete;
  Inotify& operator=(const Inotify&) = delete;

  // Watches `path` (again: inotify returns the existing descriptor). A
  // watch ends by itself when its directory is deleted.
  kube::StatusOr<int> Watch(const std::string& path, uint32_t mask = kDirectoryEvents);

  // Blocks until events arrive or Interrupt is called. Returns the events
  // read (none after an interrupt).
  std::vector<Event> Wait();

  // Makes the current or next Wait return.
  void Interrupt();

 private:
  Inotify(int inotify_fd, int event_fd) : inotify_fd_(inotify_fd), event_fd_(event_fd) {}

  const int inotify_fd_;
  const int event_fd_;
};

}  // namespace hf::agent

#endif  // HF_AGENT_INOTIFY_H_
