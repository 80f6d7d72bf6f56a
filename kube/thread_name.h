// SetThreadName: names the calling thread, so `top -H`, /proc/<pid>/task/*/comm
// and bench/wakeups tell a process's threads apart. Linux shows at most 15
// characters; longer names are cut.
//
// Thread-safety: names only the calling thread.
#ifndef HF_KUBE_THREAD_NAME_H_
#define HF_KUBE_THREAD_NAME_H_

#include <string_view>

namespace hf::kube {

void SetThreadName(std::string_view name);

}  // namespace hf::kube

#endif  // HF_KUBE_THREAD_NAME_H_
