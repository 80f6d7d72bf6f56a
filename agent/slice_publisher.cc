#include "agent/slice_publisher.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include <spdlog/spdlog.h>

#include "agent/node_report.h"
#include "api/names.h"
#include "kube/thread_name.h"

namespace hf::agent {

SlicePublisher::SlicePublisher(SlicePublisherOptions options, ClientFactory client_factory, DeviceStore& store,
                               kube::Clock& clock, Held held)
    : options_(std::move(options)),
      client_factory_(std::move(client_factory)),
      held_(std::move(held)),
      store_(store),
      clock_(clock) {}

SlicePublisher::~SlicePublisher() { Stop(); }

void SlicePublisher::Start() {
  thread_ = std::thread([this] {
    kube::SetThreadName("slice-publish");
    Run();
  });
}

void SlicePublisher::Stop() {
  if (!thread_.joinable()) return;
  {
    kube::MutexLock l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void SlicePublisher::Poke() {
  {
    kube::MutexLock l(mu_);
    dirty_ = true;
  }
  cv_.notify_all();
}

bool SlicePublisher::published() const {
  kube::MutexLock l(mu_);
  return published_;
}

uint64_t SlicePublisher::writes() const {
  kube::MutexLock l(mu_);
  return writes_;
}

kube::Status SlicePublisher::Sync() {
  if (!client_) {
    kube::StatusOr<std::shared_ptr<kube::ReadWriter>> client = client_factory_();
    if (!client.ok()) return client.status();
    client_ = *client;
  }
  const SliceIdentity& id = options_.identity;
  kube::ListOptions list;
  list.label_selector = std::string(api::kPoolLabel) + "=" + id.pool + "," + std::string(api::kNodeNameLabel) + "=" +
                        id.node;
  list.strip_managed_fields = true;
  kube::StatusOr<kube::ListPage> page = client_->List(ResourceSlices(), "", list);
  if (!page.ok()) return page.status();
  std::map<std::string, nlohmann::json> server;
  int64_t generation = 0;
  for (nlohmann::json& item : page->items) {
    generation = std::max(generation, item.value("/spec/pool/generation"_json_pointer, int64_t{0}));
    std::string name = item.value("/metadata/name"_json_pointer, "");
    server.emplace(std::move(name), std::move(item));
  }

  std::set<std::string> held;
  if (held_) {
    kube::StatusOr<std::set<std::string>> h = held_();
    if (!h.ok()) return h.status();
    held = std::move(*h);
  }
  std::shared_ptr<const DeviceState> state = store_.Get();
  std::vector<nlohmann::json> desired = BuildResourceSlices(state->set, id, generation, held);
  std::set<std::string> wanted;
  bool same = true;
  for (const nlohmann::json& slice : desired) {
    const std::string name = slice["metadata"]["name"];
    wanted.insert(name);
    auto it = server.find(name);
    if (it == server.end() || !SameSlice(slice, it->second) ||
        it->second.value("/spec/pool/generation"_json_pointer, int64_t{0}) != generation) {
      same = false;
    }
  }
  for (const auto& [name, obj] : server) {
    if (!wanted.contains(name)) same = false;
  }
  if (same) return kube::Status::Ok();

  desired = BuildResourceSlices(state->set, id, generation + 1, held);
  const kube::ApplyOptions opts{kFieldManager, /*force=*/true};
  for (const nlohmann::json& slice : desired) {
    kube::StatusOr<kube::Json> applied = client_->Apply(ResourceSlices(), "", slice, opts);
    if (!applied.ok()) return applied.status();
  }
  for (const auto& [name, obj] : server) {
    if (wanted.contains(name)) continue;
    kube::Status st = client_->Delete(ResourceSlices(), "", name);
    if (!st.ok() && !kube::IsNotFound(st)) return st;
  }
  spdlog::info("published {} ResourceSlice(s) for node {}: {} devices, {} healthy, pool generation {}",
               desired.size(), id.node, state->set.Total(), state->set.Healthy(), generation + 1);
  kube::MutexLock l(mu_);
  ++writes_;
  return kube::Status::Ok();
}

void SlicePublisher::Run() {
  kube::MutexLock l(mu_);
  const kube::BackoffPolicy& policy = options_.backoff;
  kube::Clock::TimePoint next_resync = clock_.Now();
  kube::Clock::TimePoint retry_at = clock_.Now();
  kube::Clock::Duration backoff = policy.initial;
  while (!stopping_) {
    kube::Clock::TimePoint now = clock_.Now();
    if (now < retry_at || (!dirty_ && now < next_resync)) {
      clock_.WaitUntil(l.native(), cv_, dirty_ ? retry_at : std::max(next_resync, retry_at));
      continue;
    }
    dirty_ = false;
    l.Unlock();
    kube::Status st = Sync();
    l.Lock();
    now = clock_.Now();
    next_resync = now + options_.resync;
    published_ = st.ok();
    if (st.ok()) {
      backoff = policy.initial;
      retry_at = now;
    } else {
      kube::RetryPlan plan = kube::PlanRetry(st, backoff, policy);
      spdlog::warn("publishing ResourceSlices for node {}: {}; retrying in {} ms", options_.identity.node,
                   st.ToString(), std::chrono::duration_cast<std::chrono::milliseconds>(plan.wait).count());
      dirty_ = true;
      retry_at = now + plan.wait;
      backoff = plan.next_backoff;
    }
  }
}

}  // namespace hf::agent
