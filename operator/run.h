// RunOperator: wires the informers, the DevicePool controller, leader
// election and the HTTP endpoints, and runs until `stop`. main.cc is a thin
// shell around it.
#ifndef HF_OPERATOR_RUN_H_
#define HF_OPERATOR_RUN_H_

#include <stop_token>

#include "kube/status.h"
#include "operator/options.h"

namespace hf::controller {

kube::Status RunOperator(const Options& options, std::stop_token stop);

}  // namespace hf::controller

#endif  // HF_OPERATOR_RUN_H_
