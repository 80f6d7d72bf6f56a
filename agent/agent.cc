#include "agent/agent.h"

#include <condition_variable>
#include <mutex>
#include <string>

#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include "agent/agent_metrics.h"
#include "agent/allocation_tracker.h"
#include "agent/cdi_spec.h"
#include "agent/device_store.h"
#include "agent/dra_plugin.h"
#include "agent/health_monitor.h"
#include "agent/host_cleanup.h"
#include "agent/plugin_server.h"
#include "agent/pod_resources_client.h"
#include "agent/pool_watch.h"
#include "agent/registrar.h"
#include "agent/reporter.h"
#include "agent/slice_publisher.h"
#include "agent/version.h"
#include "kube/http/server.h"
#include "kube/metrics/process_memory.h"
#include "kube/rest/config.h"
#include "kube/rest/transport.h"

namespace hf::agent {
namespace {

// Rewrites the CDI spec whenever its content changes.
class CdiWriter {
 public:
  CdiWriter(std::string path, std::string resource_name)
      : path_(std::move(path)), resource_name_(std::move(resource_name)) {}

  void Update(const DeviceSet& devices) {
    std::string content = BuildCdiSpec(devices, resource_name_).dump(2) + "\n";
    if (content == last_) return;
    if (kube::Status st = WriteFileAtomically(path_, content); !st.ok()) {
      spdlog::error("writing CDI spec: {}", st.message());
      return;
    }
    last_ = std::move(content);
    spdlog::info("wrote CDI spec {}", path_);
  }

 private:
  const std::string path_;
  const std::string resource_name_;
  std::string last_;  // only the store's updating thread calls Update
};

kube::StatusOr<std::shared_ptr<kube::Client>> NewClient(const std::string& kubeconfig, kube::Clock& clock) {
  kube::StatusOr<kube::RestConfig> config = kube::LoadConfig(kubeconfig);
  if (!config.ok()) return config.status();
  config->user_agent = UserAgent();
  kube::ClientOptions options;
  options.clock = &clock;
  return std::make_shared<kube::Client>(kube::NewCurlTransport(*config), options);
}

// Blocks until `stop` is requested.
void WaitForStop(std::stop_token stop) {
  kube::Mutex mu;
  std::condition_variable_any cv;
  kube::MutexLock l(mu);
  cv.wait(l.native(), stop, [] { return false; });
}

// Ready once a discovery scan succeeded (finding zero devices counts).
void AddDiscoveryCheck(kube::HttpServer& http, const DeviceStore& store) {
  (void)http.AddReadyCheck("discovery", [&store] {
    std::shared_ptr<const DeviceState> state = store.Get();
    if (state->scanned) return kube::Status::Ok();
    return kube::Status(kube::Reason::kServiceUnavailable,
                        state->scan_error.empty() ? "no scan yet" : "scan failed: " + state->scan_error);
  });
}

}  // namespace

Agent::Agent(Config config, std::unique_ptr<Scanner> scanner, kube::Clock& clock)
    : config_(std::move(config)), scanner_(std::move(scanner)), clock_(clock) {}

void Agent::SetReady(bool ready) {
  {
    kube::MutexLock l(mu_);
    ready_ = ready;
  }
  ready_changed_.notify_all();
}

bool Agent::WaitUntilReady(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  kube::MutexLock l(mu_);
  while (!ready_) {
    if (ready_changed_.wait_until(l.native(), deadline) == std::cv_status::timeout) return ready_;
  }
  return true;
}

kube::Status Agent::Run(std::stop_token stop) {
  spdlog::info("{} {} starting: pool {}, node {}, resource {}, revision {}, API {}", kAgentName, kAgentVersion,
               config_.pool, config_.node_name, config_.resource_name,
               config_.revision.empty() ? "(none)" : config_.revision,
               config_.allocation_api == AllocationApi::kDra ? "DRA (driver " + config_.driver_name + ")"
                                                             : std::string("DevicePlugin"));
  if (config_.allocation_api == AllocationApi::kDra) return RunDra(stop);
  return RunDevicePlugin(stop);
}

kube::Status Agent::RunDevicePlugin(std::stop_token stop) {
  auto registry = std::make_shared<prometheus::Registry>();
  AgentMetrics metrics(*registry, config_.pool, config_.node_name);
  DeviceStore store(config_.replicas);
  const std::string discovery = scanner_->Describe();

  CdiWriter cdi(CdiSpecPath(config_.cdi_dir, config_.resource_name), config_.resource_name);
  if (config_.cdi) store.Subscribe([&cdi](const DeviceState& state) { cdi.Update(state.set); });

  AllocationTracker allocations({config_.pod_resources_socket, config_.resource_name, config_.health_interval},
                                metrics, clock_);
  ServiceOptions service{config_.resource_name, config_.allocation_policy, config_.cdi};
  PluginServer server(config_.SocketPath(), store, metrics, service, clock_);
  Registrar registrar({config_.kubelet_dir, config_.resource_name, PluginOptions(service)}, server, metrics, clock_);
  server.SetHooks({[&registrar] { registrar.RegistrationLost(); }, [&allocations] { allocations.Allocated(); }});

  store.Subscribe([this, &registrar](const DeviceState& state) { SetReady(registrar.registered() && state.scanned); });
  registrar.AddListener([this, &store](bool registered) { SetReady(registered && store.Get()->scanned); });

  std::unique_ptr<Reporter> reporter;
  if (config_.report) {
    ReporterOptions options{{config_.pool, config_.pool_uid, config_.node_name}, config_.health_interval};
    options.watch = true;  // a DevicePoolNode deleted or edited by hand is written again
    reporter = std::make_unique<Reporter>(
        options, [kubeconfig = config_.kubeconfig, &clock = clock_] { return NewClient(kubeconfig, clock); },
        [&store, &registrar, &allocations, discovery, revision = config_.revision] {
          return Observation{store.Get(), registrar.registered(), allocations.allocated(), discovery, revision};
        },
        metrics, clock_);
    store.Subscribe([r = reporter.get()](const DeviceState&) { r->Poke(); });
    registrar.AddListener([r = reporter.get()](bool) { r->Poke(); });
    allocations.AddListener([r = reporter.get()](int) { r->Poke(); });
  }

  kube::HttpServer http({config_.http_address});
  (void)http.AddHealthCheck("ping", [] { return kube::Status::Ok(); });
  AddDiscoveryCheck(http, store);
  (void)http.AddReadyCheck("kubelet-registration", [&registrar] {
    return registrar.registered() ? kube::Status::Ok()
                                  : kube::Status(kube::Reason::kServiceUnavailable, "not registered with the kubelet");
  });
  (void)http.MountMetrics({registry, std::make_shared<kube::ProcessMemory>()});

  HealthMonitor monitor(*scanner_, store, metrics, config_.health_interval, clock_);
  if (kube::Status st = monitor.Start(); !st.ok()) return st;
  if (kube::Status st = http.Start(); !st.ok()) return st;
  spdlog::info("serving /healthz, /readyz and /metrics on port {}", http.port());
  allocations.Start();
  if (reporter) reporter->Start();
  PoolWatch pool_watch(config_.pool, clock_);  // for the host clean-up at shutdown
  if (config_.report) pool_watch.Start(config_);
  // Serve before registering: the kubelet dials back during Register. A
  // failure here is retried by the registrar.
  if (kube::Status st = server.Start(); !st.ok()) spdlog::error("cannot serve the device plugin API: {}", st.message());
  if (kube::Status st = registrar.Start(); !st.ok()) return st;

  WaitForStop(stop);

  spdlog::info("shutting down");
  SetReady(false);
  registrar.Stop();
  server.Stop();
  if (reporter) reporter->Stop();
  allocations.Stop();
  monitor.Stop();
  http.Stop();
  pool_watch.Stop();
  // Only a deleted pool's files go; a restart or an upgrade keeps them.
  if (config_.report) CleanUpHostIfPoolDeleted(config_, pool_watch.Last(), clock_);
  return kube::Status::Ok();
}

kube::Status Agent::RunDra(std::stop_token stop) {
  auto registry = std::make_shared<prometheus::Registry>();
  AgentMetrics metrics(*registry, config_.pool, config_.node_name);
  DeviceStore store(config_.replicas);
  const std::string discovery = scanner_->Describe();

  // One API client for the claims, the slices and the report, made on first
  // use: in-cluster credentials may appear after the agent starts.
  kube::Mutex client_mu;
  std::shared_ptr<kube::Client> client;
  auto get_client = [&]() -> kube::StatusOr<std::shared_ptr<kube::Client>> {
    kube::MutexLock l(client_mu);
    if (client) return client;
    kube::StatusOr<std::shared_ptr<kube::Client>> made = NewClient(config_.kubeconfig, clock_);
    if (made.ok()) client = *made;
    return made;
  };

  DraOptions options{config_.driver_name, config_.node_name, config_.cdi_dir, config_.plugins_dir,
                     config_.plugins_registry_dir};
  DraPlugin plugin(
      options, store,
      [&get_client](const std::string& ns, const std::string& name) -> kube::StatusOr<nlohmann::json> {
        kube::StatusOr<std::shared_ptr<kube::Client>> c = get_client();
        if (!c.ok()) return c.status();
        return (*c)->Get(ResourceClaims(), ns, name);
      },
      clock_);
  // A checkpoint that cannot be read stops the agent rather than forget
  // what running pods hold.
  if (kube::Status st = plugin.Load(); !st.ok()) return st;
  DraServer server(options, plugin);

  SlicePublisher slices({{config_.pool, config_.node_name, config_.driver_name}, config_.health_interval},
                        [&get_client]() -> kube::StatusOr<std::shared_ptr<kube::ReadWriter>> {
                          kube::StatusOr<std::shared_ptr<kube::Client>> c = get_client();
                          if (!c.ok()) return c.status();
                          return std::shared_ptr<kube::ReadWriter>(*c);
                        },
                        store, clock_,
                        [resources = PodResourcesClient(config_.pod_resources_socket),
                         resource = config_.resource_name]() -> kube::StatusOr<std::set<std::string>> {
                          // Containers still holding devices through the
                          // device plugin API: the pool switched to DRA
                          // under running pods. No socket: no kubelet API
                          // to ask, and nothing held that way.
                          kube::StatusOr<std::set<std::string>> ids = resources.AllocatedIds(resource);
                          if (!ids.ok() && kube::IsNotFound(ids.status())) return std::set<std::string>{};
                          return ids;
                        });
  store.Subscribe([&slices](const DeviceState&) { slices.Poke(); });
  server.AddListener([&slices](bool) { slices.Poke(); });

  store.Subscribe([this, &server](const DeviceState& state) { SetReady(server.registered() && state.scanned); });
  server.AddListener([this, &store](bool registered) { SetReady(registered && store.Get()->scanned); });

  // Devices containers still hold through the device plugin API (the pool
  // was switched under them) count as allocated too.
  AllocationTracker allocations({config_.pod_resources_socket, config_.resource_name, config_.health_interval},
                                metrics, clock_);

  std::unique_ptr<Reporter> reporter;
  if (config_.report) {
    ReporterOptions ro{{config_.pool, config_.pool_uid, config_.node_name}, config_.health_interval};
    ro.watch = true;
    reporter = std::make_unique<Reporter>(
        ro, get_client,
        [&store, &server, &plugin, &allocations, discovery, revision = config_.revision] {
          return Observation{store.Get(), server.registered(), plugin.PreparedDevices() + allocations.allocated(),
                             discovery, revision};
        },
        metrics, clock_);
    store.Subscribe([r = reporter.get()](const DeviceState&) { r->Poke(); });
    server.AddListener([r = reporter.get()](bool) { r->Poke(); });
    plugin.AddListener([r = reporter.get()](int) { r->Poke(); });
    allocations.AddListener([r = reporter.get()](int) { r->Poke(); });
  }

  kube::HttpServer http({config_.http_address});
  (void)http.AddHealthCheck("ping", [] { return kube::Status::Ok(); });
  AddDiscoveryCheck(http, store);
  (void)http.AddReadyCheck("kubelet-registration", [&server] {
    return server.registered() ? kube::Status::Ok()
                               : kube::Status(kube::Reason::kServiceUnavailable,
                                              "the kubelet has not registered the DRA driver");
  });
  (void)http.AddReadyCheck("resource-slices", [&slices] {
    return slices.published() ? kube::Status::Ok()
                              : kube::Status(kube::Reason::kServiceUnavailable, "ResourceSlices not published yet");
  });
  (void)http.MountMetrics({registry, std::make_shared<kube::ProcessMemory>()});

  HealthMonitor monitor(*scanner_, store, metrics, config_.health_interval, clock_);
  if (kube::Status st = monitor.Start(); !st.ok()) return st;
  if (kube::Status st = http.Start(); !st.ok()) return st;
  spdlog::info("serving /healthz, /readyz and /metrics on port {}", http.port());
  allocations.Start();
  if (reporter) reporter->Start();
  slices.Start();
  PoolWatch pool_watch(config_.pool, clock_);
  if (config_.report) pool_watch.Start(config_);
  if (kube::Status st = server.Start(); !st.ok()) return st;

  WaitForStop(stop);

  spdlog::info("shutting down");
  SetReady(false);
  // The slices stay: prepared claims keep their devices, and a restarted
  // agent takes them over. The kubelet deletes them once the driver has been
  // gone for a while.
  server.Stop();
  slices.Stop();
  if (reporter) reporter->Stop();
  allocations.Stop();
  monitor.Stop();
  http.Stop();
  pool_watch.Stop();
  if (config_.report) CleanUpHostIfPoolDeleted(config_, pool_watch.Last(), clock_);
  return kube::Status::Ok();
}

}  // namespace hf::agent
