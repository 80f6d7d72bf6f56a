#include "agent/pool_watch.h"

#include <spdlog/spdlog.h>

#include "agent/version.h"
#include "api/names.h"
#include "kube/meta/object_meta.h"
#include "kube/rest/client.h"
#include "kube/rest/config.h"
#include "kube/rest/transport.h"
#include "kube/thread_name.h"

namespace hf::agent {
namespace {

kube::Status NotFound(const std::string& pool) {
  return kube::Status(kube::Reason::kNotFound, "devicepools.hashfoundry.com \"" + pool + "\" not found", 404);
}

}  // namespace

PoolWatch::PoolWatch(std::string pool, kube::Clock& clock)
    : pool_(std::move(pool)),
      clock_(clock),
      last_(kube::Status(kube::Reason::kUnknown, "the pool's watch has not listed yet")) {}

PoolWatch::~PoolWatch() { Stop(); }

void PoolWatch::Start(const Config& config) {
  kube::StatusOr<kube::RestConfig> rest = kube::LoadConfig(config.kubeconfig);
  if (!rest.ok()) {
    spdlog::warn("not watching pool {}: {}", pool_, rest.status().message());
    return;
  }
  rest->user_agent = UserAgent();
  kube::ClientOptions options;
  options.clock = &clock_;
  client_ = std::make_shared<kube::Client>(kube::NewCurlTransport(*rest), options);
  kube::ListWatchOptions opts;
  opts.field_selector = "metadata.name=" + pool_;
  opts.metadata_only = true;
  reflector_ = std::make_unique<kube::Reflector>(*client_, api::DevicePools(), opts, *this, clock_);
  thread_ = std::jthread([this](std::stop_token stop) {
    kube::SetThreadName("pool-watch");
    reflector_->Run(stop);
  });
}

void PoolWatch::Stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

kube::StatusOr<nlohmann::json> PoolWatch::Last() const {
  kube::MutexLock l(mu_);
  return last_;
}

void PoolWatch::Set(kube::StatusOr<nlohmann::json> seen) {
  kube::MutexLock l(mu_);
  last_ = std::move(seen);
}

void PoolWatch::BeginList() { listed_.reset(); }

void PoolWatch::ListItem(nlohmann::json&& obj) {
  if (kube::KeyOf(obj) == pool_) listed_ = std::move(obj);
}

void PoolWatch::EndList() {
  if (listed_) {
    Set(std::move(*listed_));
  } else {
    Set(NotFound(pool_));
  }
  listed_.reset();
}

void PoolWatch::AbortList() { listed_.reset(); }

void PoolWatch::OnEvent(kube::WatchEventType type, nlohmann::json&& obj) {
  if (kube::KeyOf(obj) != pool_) return;
  if (type == kube::WatchEventType::kAdded || type == kube::WatchEventType::kModified) {
    Set(std::move(obj));
  } else if (type == kube::WatchEventType::kDeleted) {
    Set(NotFound(pool_));
  }
}

}  // namespace hf::agent
