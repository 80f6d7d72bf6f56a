#include "agent/host_cleanup.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include <spdlog/spdlog.h>

#include "agent/cdi_spec.h"
#include "agent/version.h"
#include "api/names.h"
#include "kube/meta/object_meta.h"
#include "kube/rest/client.h"
#include "kube/rest/config.h"
#include "kube/rest/transport.h"

namespace hf::agent {
namespace {

// The kubelet's default grace period is 30 s; the agent has already spent
// some of it stopping the gRPC server.
constexpr std::chrono::seconds kLookupTimeout{5};

kube::StatusOr<nlohmann::json> GetPool(const Config& config, kube::Clock& clock) {
  kube::StatusOr<kube::RestConfig> rest = kube::LoadConfig(config.kubeconfig);
  if (!rest.ok()) return rest.status();
  rest->user_agent = UserAgent();
  rest->timeout = kLookupTimeout;
  kube::ClientOptions options;
  options.clock = &clock;
  kube::Client client(kube::NewCurlTransport(*rest), options);
  return client.Get(api::DevicePools(), "", config.pool);
}

}  // namespace

HostCleanupDecision DecideHostCleanup(const kube::StatusOr<nlohmann::json>& read,
                                      const kube::StatusOr<nlohmann::json>& watched, std::string_view pool_uid,
                                      bool socket_taken) {
  HostCleanupDecision d;
  const bool answered = read.ok() || kube::IsNotFound(read.status());
  const kube::StatusOr<nlohmann::json>& pool = answered ? read : watched;
  if (!pool.ok()) {
    if (kube::IsNotFound(pool.status())) {
      d.remove = true;
      d.reason = "the pool is gone";
    } else {
      d.reason = "cannot read the pool (" + read.status().ToString() + ") and has not watched it (" +
                 watched.status().ToString() + ")";
    }
  } else {
    kube::ObjectMeta meta = kube::ObjectMeta::FromJson(*pool, /*with_annotations=*/false);
    if (!pool_uid.empty() && meta.uid != pool_uid) {
      d.remove = true;
      d.reason = "the pool was deleted (a pool of the same name has uid " + meta.uid + ")";
    } else if (meta.deleting) {
      d.remove = true;
      d.reason = "the pool is being deleted";
    } else {
      d.reason = "the pool still exists: a restart or an upgrade";
    }
  }
  if (!answered && (pool.ok() || d.remove)) d.reason += " (as last watched; " + read.status().ToString() + ")";
  if (d.remove && socket_taken) {
    d.remove = false;
    d.reason += ", but another agent serves the resource on this node";
  }
  return d;
}

HostTraces HostTracesOf(const Config& config) {
  HostTraces t;
  if (config.discovery == DiscoveryMode::kSimulated) {
    for (int i = 0; i < config.simulated_count; ++i) {
      t.files.push_back(config.dev_root + "/" + config.simulated_prefix + "-" + std::to_string(i));
    }
    t.dirs.push_back(config.dev_root);
  }
  if (config.cdi) t.files.push_back(CdiSpecPath(config.cdi_dir, config.resource_name));
  return t;
}

int RemoveHostTraces(const HostTraces& traces) {
  int removed = 0;
  for (const std::string& f : traces.files) {
    if (unlink(f.c_str()) == 0) {
      ++removed;
    } else if (errno != ENOENT) {
      spdlog::warn("cannot remove {}: {}", f, std::strerror(errno));
    }
  }
  // A directory that still holds other files, or is the mount point of a
  // hostPath volume, stays.
  for (const std::string& dir : traces.dirs) {
    if (rmdir(dir.c_str()) == 0) ++removed;
  }
  return removed;
}

void CleanUpHostIfPoolDeleted(const Config& config, const kube::StatusOr<nlohmann::json>& watched,
                              kube::Clock& clock) {
  std::error_code ec;
  bool socket_taken = std::filesystem::exists(config.SocketPath(), ec);
  HostCleanupDecision d = DecideHostCleanup(GetPool(config, clock), watched, config.pool_uid, socket_taken);
  HostTraces traces = HostTracesOf(config);
  if (!d.remove) {
    if (!traces.files.empty()) spdlog::info("leaving the pool's files on the host: {}", d.reason);
    return;
  }
  int removed = RemoveHostTraces(traces);
  spdlog::info("{}: removed {} of the pool's files and directories from the host", d.reason, removed);
}

}  // namespace hf::agent
