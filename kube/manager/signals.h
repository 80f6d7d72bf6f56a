// SetupSignalHandler: SIGTERM and SIGINT become a stop request, as
// controller-runtime's SetupSignalHandler does; a second signal exits at once.
// Call it first thing in main, before any thread starts, because it blocks
// the signals for every thread created afterwards.
//
// Thread-safety: call once.
#ifndef HF_KUBE_MANAGER_SIGNALS_H_
#define HF_KUBE_MANAGER_SIGNALS_H_

#include <stop_token>

namespace hf::kube {

std::stop_source SetupSignalHandler();

}  // namespace hf::kube

#endif  // HF_KUBE_MANAGER_SIGNALS_H_
