// The agent's version, reported by --version, in the DevicePoolNode status
// and in logs: the project version from the top-level CMakeLists.txt
// (agent/CMakeLists.txt passes it in as HF_AGENT_VERSION).
//
// Thread-safety: a constant.
#ifndef HF_AGENT_VERSION_H_
#define HF_AGENT_VERSION_H_

#include <string>
#include <string_view>

#include "api/names.h"

namespace hf::agent {

using api::kAgentName;
inline constexpr std::string_view kAgentVersion = HF_AGENT_VERSION;

// What the agent's API requests say in User-Agent: devicepool-agent/VERSION.
inline std::string UserAgent() { return std::string(kAgentName) + "/" + std::string(kAgentVersion); }

}  // namespace hf::agent

#endif  // HF_AGENT_VERSION_H_
