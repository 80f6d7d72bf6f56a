// Scanner: one way of finding devices (simulated files, path globs, PCI
// functions in sysfs). The HealthMonitor calls Scan whenever a watched
// directory changes and on its interval; everything a scanner reads is under
// roots it was given, so tests scan fake trees.
//
// Thread-safety: Prepare, then Scan and WatchDirs from one thread at a time.
#ifndef HF_AGENT_SCANNER_H_
#define HF_AGENT_SCANNER_H_

#include <string>
#include <vector>

#include "agent/device.h"
#include "kube/status.h"

namespace hf::agent {

class Scanner {
 public:
  virtual ~Scanner() = default;

  // One-time setup before the first scan.
  virtual kube::Status Prepare() { return kube::Status::Ok(); }

  // The devices there are now, each with its health. A device that was found
  // before and is missing now may be left out: the DeviceStore keeps it as
  // Unhealthy. An error means the scan could not run at all.
  virtual kube::StatusOr<std::vector<Device>> Scan() = 0;

  // Directories whose entries changing can change the scan; watched with
  // inotify. Missing ones are skipped, so list an existing ancestor too.
  virtual std::vector<std::string> WatchDirs() const = 0;

  // For logs and the DevicePoolNode condition, e.g. "paths /dev/fpga*".
  virtual std::string Describe() const = 0;
};

}  // namespace hf::agent

#endif  // HF_AGENT_SCANNER_H_
