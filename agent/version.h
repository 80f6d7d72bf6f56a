// The agent's version, reported by --version, in the DevicePoolNode status
// and in logs: the project version from the top-level CMakeLists.txt
// (agent/CMakeLists.txt passes it in as HF_AGENT_VERSION).
//
// Thread-safety: a constant.
#ifndef HF_AGENT_VERSION_H_
#define HF_AGENT_VERSION_H_

#include <string_view>

namespace hf::agent {

inline constexpr std::string_view kAgentName = "devicepool-agent";
inline constexpr std::string_view kAgentVersion = HF_AGENT_VERSION;

}  // namespace hf::agent

#endif  // HF_AGENT_VERSION_H_
