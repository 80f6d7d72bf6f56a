#include "agent/inotify.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace hf::agent {

kube::StatusOr<std::unique_ptr<Inotify>> Inotify::Create() {
  int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (in < 0) return kube::Status(kube::Reason::kInternalError, std::string("inotify_init1: ") + std::strerror(errno));
  int ev = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (ev < 0) {
    int err = errno;
    close(in);
    return kube::Status(kube::Reason::kInternalError, std::string("eventfd: ") + std::strerror(err));
  }
  return std::unique_ptr<Inotify>(new Inotify(in, ev));
}

Inotify::~Inotify() {
  close(inotify_fd_);
  close(event_fd_);
}

kube::StatusOr<int> Inotify::Watch(const std::string& path, uint32_t mask) {
  int wd = inotify_add_watch(inotify_fd_, path.c_str(), mask);
  if (wd < 0) {
    return kube::Status(errno == ENOENT ? kube::Reason::kNotFound : kube::Reason::kInternalError,
                        "inotify watch " + path + ": " + std::strerror(errno));
  }
  return wd;
}

std::vector<Inotify::Event> Inotify::Wait() {
  std::vector<Event> events;
  pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {event_fd_, POLLIN, 0}};
  int n = poll(fds, 2, -1);
  if (n <= 0) return events;
  if (fds[1].revents & POLLIN) {
    uint64_t v = 0;
    (void)!read(event_fd_, &v, sizeof v);
  }
  if (!(fds[0].revents & POLLIN)) return events;
  alignas(inotify_event) char buf[16 * 1024];
  for (;;) {
    ssize_t len = read(inotify_fd_, buf, sizeof buf);
    if (len <= 0) break;
    for (char* p = buf; p < buf + len;) {
      const auto* e = reinterpret_cast<const inotify_event*>(p);
      events.push_back({e->wd, e->mask, e->len > 0 ? std::string(e->name) : std::string()});
      p += sizeof(inotify_event) + e->len;
    }
  }
  return events;
}

void Inotify::Interrupt() {
  uint64_t one = 1;
  (void)!write(event_fd_, &one, sizeof one);
}

}  // namespace hf::agent
