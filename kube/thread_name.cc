#include "kube/thread_name.h"

#include <pthread.h>

#include <string>

namespace hf::kube {

void SetThreadName(std::string_view name) {
  const std::string cut(name.substr(0, 15));  // the kernel's limit, without the NUL
  pthread_setname_np(pthread_self(), cut.c_str());
}

}  // namespace hf::kube
