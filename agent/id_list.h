// IdList: formats device ids for error messages: quoted, at most a few of
// them and each cut short, so a request with 10,000 ids still gets a
// message of bounded length.
//
// Thread-safety: a pure function.
#ifndef HF_AGENT_ID_LIST_H_
#define HF_AGENT_ID_LIST_H_

#include <string>
#include <vector>

namespace hf::agent {

// `"a", "b", "c" and 7 more`
std::string IdList(const std::vector<std::string>& ids);

}  // namespace hf::agent

#endif  // HF_AGENT_ID_LIST_H_
