// The agent's DRA parts without a kubelet or an API server: ResourceSlice
// content, claim allocation parsing, CDI specs per claim, the checkpoint, the
// DRAPlugin service over real gRPC on unix sockets (prepare, idempotence,
// restart from the checkpoint, unprepare, errors per claim, the health
// stream, registration) and the slice publisher against kube/fake. The
// kubelet's own DRA manager drives the same agent in tests/e2e.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <grpcpp/create_channel.h>

#include "agent/dra_claim.h"
#include "agent/dra_plugin.h"
#include "agent/resource_slice.h"
#include "agent/slice_publisher.h"
#include "api/names.h"
#include "kube/clock.h"
#include "kube/fake/fake_client.h"
#include "tests/agent/testing/temp_dir.h"

namespace hf::agent {
namespace {

namespace dra = k8s::io::kubelet::pkg::apis::dra::v1;
using nlohmann::json;
using testing::TempDir;

constexpr char kDriver[] = "gpu.devicepool.hashfoundry.com";

Device Dev(std::string id, bool healthy = true, std::optional<int> numa = std::nullopt, bool with_node = true) {
  Device d{std::move(id), healthy, numa, {}};
  if (with_node) d.nodes.push_back({"/host/dev/" + d.id, "/dev/" + d.id, NodeKind::kCharDevice});
  return d;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// ---- ResourceSlice content ----

TEST(DraDeviceNameTest, KeepsDnsLabelsAndMapsTheRestUniquely) {
  EXPECT_EQ(DraDeviceName("hashfoundry-device-0"), "hashfoundry-device-0");
  std::string pci = DraDeviceName("0000:3b:00.0");
  EXPECT_TRUE(pci.starts_with("0000-3b-00-0-")) << pci;
  EXPECT_EQ(pci.size(), std::string("0000-3b-00-0-").size() + 8);
  EXPECT_NE(DraDeviceName("dev::0"), DraDeviceName("dev::1"));
  EXPECT_NE(DraDeviceName("A"), DraDeviceName("a"));
  std::string longest = DraDeviceName(std::string(100, 'x') + "::3");
  EXPECT_LE(longest.size(), 63u);
  EXPECT_EQ(DraDeviceName(":::"), DraDeviceName(":::"));
  EXPECT_EQ(DraDeviceName(":::").size(), 8u);  // only the hash is left
}

TEST(ResourceSliceTest, PublishesEveryAdvertisedIdWithAttributesAndTaintsTheUnhealthy) {
  DeviceSet set({Dev("dev-0", true, 1), Dev("dev-1", false, std::nullopt, false)}, 2);
  std::vector<json> slices = BuildResourceSlices(set, {"gpu", "node-a", kDriver}, 7);
  ASSERT_EQ(slices.size(), 1u);
  const json& s = slices[0];
  EXPECT_EQ(s["apiVersion"], "resource.k8s.io/v1");
  EXPECT_EQ(s["metadata"]["name"], "gpu.node-a");
  EXPECT_EQ(s["metadata"]["labels"][std::string(api::kPoolLabel)], "gpu");
  EXPECT_EQ(s["spec"]["driver"], kDriver);
  EXPECT_EQ(s["spec"]["nodeName"], "node-a");
  EXPECT_EQ(s["spec"]["pool"], json({{"name", "node-a"}, {"generation", 7}, {"resourceSliceCount", 1}}));
  const json& devices = s["spec"]["devices"];
  ASSERT_EQ(devices.size(), 4u);
  EXPECT_EQ(devices[0]["name"], DraDeviceName("dev-0::0"));
  EXPECT_EQ(devices[0]["attributes"], json({{"id", {{"string", "dev-0"}}},
                                            {"replica", {{"int", 0}}},
                                            {"numaNode", {{"int", 1}}},
                                            {"path", {{"string", "/host/dev/dev-0"}}}}));
  EXPECT_EQ(devices[1]["attributes"]["replica"], json({{"int", 1}}));
  EXPECT_FALSE(devices[0].contains("taints"));
  EXPECT_EQ(devices[2]["attributes"], json({{"id", {{"string", "dev-1"}}}, {"replica", {{"int", 0}}}}));
  EXPECT_EQ(devices[3]["taints"], json::array({{{"key", kUnhealthyTaintKey}, {"effect", "NoSchedule"}}}));
}

TEST(ResourceSliceTest, TaintsDevicesHeldThroughTheDevicePluginApi) {
  DeviceSet set({Dev("dev-0", false), Dev("dev-1")}, 1);
  std::vector<json> slices = BuildResourceSlices(set, {"p", "n", kDriver}, 1, {"dev-0", "dev-1"});
  const json& devices = slices[0]["spec"]["devices"];
  EXPECT_EQ(devices[0]["taints"], json::array({{{"key", kUnhealthyTaintKey}, {"effect", "NoSchedule"}},
                                               {{"key", kDevicePluginAllocatedTaintKey}, {"effect", "NoSchedule"}}}));
  EXPECT_EQ(devices[1]["taints"],
            json::array({{{"key", kDevicePluginAllocatedTaintKey}, {"effect", "NoSchedule"}}}));
}

TEST(ResourceSliceTest, SplitsLargePoolsAndPublishesAnEmptyOne) {
  std::vector<Device> many;
  for (int i = 0; i < 130; ++i) many.push_back(Dev("d-" + std::to_string(i)));
  std::vector<json> slices = BuildResourceSlices(DeviceSet(many, 1), {"p", "n", kDriver}, 1);
  ASSERT_EQ(slices.size(), 3u);
  EXPECT_EQ(slices[0]["spec"]["devices"].size(), kMaxDevicesPerSlice);
  EXPECT_EQ(slices[2]["spec"]["devices"].size(), 130 - 2 * kMaxDevicesPerSlice);
  EXPECT_EQ(slices[2]["metadata"]["name"], "p.n.2");
  for (const json& s : slices) EXPECT_EQ(s["spec"]["pool"]["resourceSliceCount"], 3);

  std::vector<json> empty = BuildResourceSlices(DeviceSet({}, 1), {"p", "n", kDriver}, 1);
  ASSERT_EQ(empty.size(), 1u);
  EXPECT_TRUE(empty[0]["spec"]["devices"].empty());
}

TEST(ResourceSliceTest, SameSliceIgnoresGenerationAndServerFields) {
  DeviceSet set({Dev("dev-0", false)}, 1);
  json desired = BuildResourceSlices(set, {"p", "n", kDriver}, 1)[0];
  json server = BuildResourceSlices(set, {"p", "n", kDriver}, 5)[0];
  server["metadata"]["resourceVersion"] = "12";
  server["metadata"]["labels"]["other"] = "x";
  server["spec"]["devices"][0]["taints"][0]["timeAdded"] = "2026-12-07T10:00:00Z";
  EXPECT_TRUE(SameSlice(desired, server));
  server["spec"]["devices"][0].erase("taints");
  EXPECT_FALSE(SameSlice(desired, server));
}

// ---- Claims ----

json Claim(const std::string& uid, json results) {
  return {{"metadata", {{"namespace", "ns"}, {"name", "c"}, {"uid", uid}}},
          {"status", {{"allocation", {{"devices", {{"results", std::move(results)}}}}}}}};
}

json Result(const std::string& request, const std::string& device, const std::string& driver = kDriver,
            const std::string& pool = "node-a") {
  return {{"request", request}, {"driver", driver}, {"pool", pool}, {"device", device}};
}

TEST(DraClaimTest, AllocatedDevicesTakesOnlyThisDriversAndMergesRequests) {
  json claim = Claim("u1", {Result("a", "dev-0"), Result("x", "other", "other.example.com"), Result("b", "dev-0"),
                            Result("b", "dev-1")});
  auto devices = AllocatedDevices(claim, kDriver);
  ASSERT_TRUE(devices.ok()) << devices.status().ToString();
  ASSERT_EQ(devices->size(), 2u);
  EXPECT_EQ((*devices)[0], (AllocatedDevice{{"a", "b"}, "node-a", "dev-0"}));
  EXPECT_EQ((*devices)[1], (AllocatedDevice{{"b"}, "node-a", "dev-1"}));

  // A subrequest of a prioritized list serves its base request.
  auto sub = AllocatedDevices(Claim("u1", {Result("gpu/large", "dev-0")}), kDriver);
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ((*sub)[0].requests, std::vector<std::string>{"gpu"});

  auto none = AllocatedDevices(Claim("u1", {Result("x", "other", "other.example.com")}), kDriver);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no device of driver " + std::string(kDriver)), std::string::npos);
  auto unallocated = AllocatedDevices({{"metadata", {{"namespace", "ns"}, {"name", "c"}}}}, kDriver);
  ASSERT_FALSE(unallocated.ok());
  EXPECT_NE(unallocated.status().message().find("ns/c is not allocated"), std::string::npos);
}

TEST(DraClaimTest, CdiSpecCarriesNodesAndTheEnvContract) {
  DeviceSet set({Dev("dev-0"), Dev("dev-1", true, std::nullopt, false)}, 1);
  std::vector<PreparedDevice> devices = {{{{"r"}, "node-a", "dev-1"}, "dev-1", {}},
                                         {{{"r"}, "node-a", "dev-0"}, "dev-0", {}}};
  json spec = BuildClaimCdiSpec(set, kDriver, "uid-1", devices);
  EXPECT_EQ(spec["kind"], "k8s.gpu.devicepool.hashfoundry.com/claim");
  EXPECT_EQ(devices[0].cdi_ids, std::vector<std::string>{"k8s.gpu.devicepool.hashfoundry.com/claim=uid-1-dev-1"});
  ASSERT_EQ(spec["devices"].size(), 2u);
  EXPECT_EQ(spec["devices"][0]["containerEdits"], json({{"env", {"HASHFOUNDRY_DEVICE_0_ID=dev-1"}}}));
  EXPECT_EQ(spec["devices"][1]["containerEdits"]["deviceNodes"][0]["hostPath"], "/host/dev/dev-0");
  EXPECT_EQ(spec["containerEdits"]["env"],
            json({"HASHFOUNDRY_DEVICE_1_PATH=/dev/dev-0", "HASHFOUNDRY_DEVICE_IDS=dev-1,dev-0",
                  "HASHFOUNDRY_DEVICE_COUNT=2", "HASHFOUNDRY_DEVICE_ID=dev-1"}));
  EXPECT_EQ(ClaimCdiPath("/var/run/cdi", kDriver, "uid-1"),
            "/var/run/cdi/k8s.gpu.devicepool.hashfoundry.com-claim_uid-1.json");
}

TEST(DraClaimTest, CheckpointRoundTripsAndRefusesWhatItDoesNotKnow) {
  std::map<std::string, PreparedClaim> claims;
  claims["u1"] = {"u1", "ns", "c", {{{{"a", "b"}, "node-a", "dev-0"}, "dev-0", {"k=u1-dev-0"}}}};
  auto back = DecodeCheckpoint(EncodeCheckpoint(claims));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, claims);
  EXPECT_FALSE(DecodeCheckpoint(json{{"version", 2}, {"claims", json::array()}}).ok());
  EXPECT_FALSE(DecodeCheckpoint(json{{"version", 1}, {"claims", {{{"namespace", "x"}}}}}).ok());
  EXPECT_FALSE(DecodeCheckpoint(json{{"version", 1}, {"claims", {{{"uid", "u"}, {"devices", {1}}}}}}).ok());
}

// ---- The DRAPlugin service over gRPC ----

class DraPluginTest : public ::testing::Test {
 protected:
  DraPluginTest() : store_(1) {
    options_ = {kDriver, "node-a", dir_.Path("cdi"), dir_.Path("plugins"), dir_.Path("registry")};
    store_.Update(std::vector<Device>{Dev("dev-0"), Dev("dev-1")});
  }

  void Start() {
    plugin_ = std::make_unique<DraPlugin>(
        options_, store_,
        [this](const std::string& ns, const std::string& name) -> kube::StatusOr<json> {
          ++reads_;
          auto it = claims_.find(ns + "/" + name);
          if (it == claims_.end()) return kube::Status(kube::Reason::kNotFound, "resourceclaims " + name + " not found");
          return it->second;
        },
        kube::DefaultClock());
    ASSERT_TRUE(plugin_->Load().ok());
    server_ = std::make_unique<DraServer>(options_, *plugin_);
    ASSERT_TRUE(server_->Start().ok());
    auto channel = grpc::CreateChannel("unix:" + options_.SocketPath(), grpc::InsecureChannelCredentials());
    stub_ = dra::DRAPlugin::NewStub(channel);
    health_ = v1alpha1::DRAResourceHealth::NewStub(channel);
  }

  void Restart() {
    stub_.reset();
    health_.reset();
    server_.reset();
    plugin_.reset();
    Start();
  }

  dra::NodePrepareResourcesResponse Prepare(const std::vector<std::string>& uids) {
    dra::NodePrepareResourcesRequest req;
    for (const std::string& uid : uids) {
      dra::Claim* c = req.add_claims();
      c->set_namespace_("ns");
      c->set_name("claim-" + uid);
      c->set_uid(uid);
    }
    dra::NodePrepareResourcesResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = stub_->NodePrepareResources(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }

  dra::NodeUnprepareResourcesResponse Unprepare(const std::string& uid) {
    dra::NodeUnprepareResourcesRequest req;
    dra::Claim* c = req.add_claims();
    c->set_namespace_("ns");
    c->set_name("claim-" + uid);
    c->set_uid(uid);
    dra::NodeUnprepareResourcesResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = stub_->NodeUnprepareResources(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }

  void AddClaim(const std::string& uid, json results) {
    json c = Claim(uid, std::move(results));
    c["metadata"]["name"] = "claim-" + uid;
    claims_["ns/claim-" + uid] = c;
  }

  TempDir dir_;
  DraOptions options_;
  DeviceStore store_;
  std::map<std::string, json> claims_;
  int reads_ = 0;
  std::unique_ptr<DraPlugin> plugin_;
  std::unique_ptr<DraServer> server_;
  std::unique_ptr<dra::DRAPlugin::Stub> stub_;
  std::unique_ptr<v1alpha1::DRAResourceHealth::Stub> health_;
};

TEST_F(DraPluginTest, PreparesWritesCdiAndCheckpointsIdempotently) {
  Start();
  AddClaim("u1", {Result("gpu", "dev-1")});
  dra::NodePrepareResourcesResponse resp = Prepare({"u1"});
  ASSERT_EQ(resp.claims().count("u1"), 1u);
  const dra::NodePrepareResourceResponse& r = resp.claims().at("u1");
  EXPECT_EQ(r.error(), "");
  ASSERT_EQ(r.devices_size(), 1);
  EXPECT_EQ(r.devices(0).device_name(), "dev-1");
  EXPECT_EQ(r.devices(0).pool_name(), "node-a");
  ASSERT_EQ(r.devices(0).request_names_size(), 1);
  EXPECT_EQ(r.devices(0).request_names(0), "gpu");
  ASSERT_EQ(r.devices(0).cdi_device_ids_size(), 1);
  EXPECT_EQ(r.devices(0).cdi_device_ids(0), "k8s." + std::string(kDriver) + "/claim=u1-dev-1");
  json spec = json::parse(ReadFile(ClaimCdiPath(options_.cdi_dir, kDriver, "u1")));
  EXPECT_EQ(spec["devices"][0]["name"], "u1-dev-1");
  EXPECT_EQ(plugin_->PreparedDevices(), 1);

  // Again: answered from the checkpoint, the claim is not read again.
  dra::NodePrepareResourcesResponse again = Prepare({"u1"});
  EXPECT_EQ(again.claims().at("u1").SerializeAsString(), r.SerializeAsString());
  EXPECT_EQ(reads_, 1);

  // After a restart too, without the API server.
  claims_.clear();
  reads_ = 0;
  Restart();
  EXPECT_EQ(plugin_->PreparedDevices(), 1);
  dra::NodePrepareResourcesResponse restarted = Prepare({"u1"});
  EXPECT_EQ(restarted.claims().at("u1").SerializeAsString(), r.SerializeAsString());
  EXPECT_EQ(reads_, 0);

  // Unprepare removes the spec and the entry; twice is fine, and an unknown
  // claim succeeds too.
  EXPECT_EQ(Unprepare("u1").claims().at("u1").error(), "");
  EXPECT_FALSE(dir_.Exists("cdi/k8s." + std::string(kDriver) + "-claim_u1.json"));
  EXPECT_EQ(plugin_->PreparedDevices(), 0);
  EXPECT_EQ(Unprepare("u1").claims().at("u1").error(), "");
  EXPECT_EQ(Unprepare("never").claims().at("never").error(), "");
  Restart();
  EXPECT_EQ(plugin_->PreparedDevices(), 0);
}

TEST_F(DraPluginTest, AnswersEachClaimsErrorOnItsOwn) {
  Start();
  AddClaim("good", {Result("r", "dev-0")});
  AddClaim("foreign-pool", {Result("r", "dev-0", kDriver, "node-b")});
  AddClaim("unknown-device", {Result("r", "dev-9")});
  AddClaim("other-driver", {Result("r", "dev-0", "other.example.com")});
  json stale = Claim("not-this-uid", {Result("r", "dev-0")});
  stale["metadata"]["name"] = "claim-stale";
  claims_["ns/claim-stale"] = stale;
  dra::NodePrepareResourcesResponse resp =
      Prepare({"good", "foreign-pool", "unknown-device", "other-driver", "missing", "stale"});
  EXPECT_EQ(resp.claims().at("good").error(), "");
  EXPECT_NE(resp.claims().at("foreign-pool").error().find("from pool node-b, not this node's (node-a)"),
            std::string::npos);
  EXPECT_NE(resp.claims().at("unknown-device").error().find("device dev-9 is not on this node"), std::string::npos);
  EXPECT_NE(resp.claims().at("other-driver").error().find("no device of driver"), std::string::npos);
  EXPECT_NE(resp.claims().at("missing").error().find("reading ResourceClaim ns/claim-missing"), std::string::npos);
  EXPECT_NE(resp.claims().at("stale").error().find("deleted and created again"), std::string::npos);
  EXPECT_EQ(plugin_->Prepared().size(), 1u);
}

TEST_F(DraPluginTest, RefusesAnUnhealthyDevice) {
  Start();
  store_.Update(std::vector<Device>{Dev("dev-0", false), Dev("dev-1")});
  AddClaim("u", {Result("r", "dev-0")});
  EXPECT_NE(Prepare({"u"}).claims().at("u").error().find("device dev-0 is unhealthy"), std::string::npos);
  EXPECT_FALSE(dir_.Exists("cdi/k8s." + std::string(kDriver) + "-claim_u.json"));
}

TEST_F(DraPluginTest, RefusesToStartFromACorruptCheckpoint) {
  dir_.WriteFile("plugins/" + std::string(kDriver) + "/checkpoint.json", "{\"version\": 1, \"claims\": [{}]}");
  DraPlugin plugin(options_, store_, nullptr, kube::DefaultClock());
  kube::Status st = plugin.Load();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("checkpoint.json"), std::string::npos) << st.message();
}

TEST_F(DraPluginTest, StreamsHealthOnEveryChange) {
  Start();
  grpc::ClientContext ctx;
  auto reader = health_->NodeWatchResources(&ctx, v1alpha1::NodeWatchResourcesRequest());
  v1alpha1::NodeWatchResourcesResponse msg;
  ASSERT_TRUE(reader->Read(&msg));
  ASSERT_EQ(msg.devices_size(), 2);
  EXPECT_EQ(msg.devices(0).device().pool_name(), "node-a");
  EXPECT_EQ(msg.devices(0).device().device_name(), "dev-0");
  EXPECT_EQ(msg.devices(0).health(), v1alpha1::HEALTHY);
  store_.Update(std::vector<Device>{Dev("dev-0", false), Dev("dev-1")});
  ASSERT_TRUE(reader->Read(&msg));
  EXPECT_EQ(msg.devices(0).health(), v1alpha1::UNHEALTHY);
  EXPECT_NE(msg.devices(0).message().find("dev-0"), std::string::npos);
  ctx.TryCancel();
}

TEST_F(DraPluginTest, RegistrationAnswersGetInfoAndRecordsTheKubeletsVerdict) {
  Start();
  std::vector<bool> seen;
  auto channel = grpc::CreateChannel("unix:" + options_.RegistrationSocketPath(), grpc::InsecureChannelCredentials());
  auto reg = pluginregistration::Registration::NewStub(channel);
  pluginregistration::PluginInfo info;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(reg->GetInfo(&ctx, pluginregistration::InfoRequest(), &info).ok());
  }
  EXPECT_EQ(info.type(), "DRAPlugin");
  EXPECT_EQ(info.name(), kDriver);
  EXPECT_EQ(info.endpoint(), options_.SocketPath());
  ASSERT_EQ(info.supported_versions_size(), 1);
  EXPECT_EQ(info.supported_versions(0), "v1.DRAPlugin");
  EXPECT_FALSE(server_->registered());
  pluginregistration::RegistrationStatus status;
  status.set_plugin_registered(true);
  pluginregistration::RegistrationStatusResponse resp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(reg->NotifyRegistrationStatus(&ctx, status, &resp).ok());
  }
  EXPECT_TRUE(server_->registered());
  server_->Stop();
  EXPECT_FALSE(dir_.Exists("registry/" + std::string(kDriver) + "-reg.sock"));
  EXPECT_FALSE(server_->registered());
}

// ---- SlicePublisher against kube/fake ----

TEST(SlicePublisherTest, WritesOnlyWhatChangedAndRepairsDrift) {
  kube::FakeClient fake;
  std::shared_ptr<kube::ReadWriter> client(&fake, [](kube::ReadWriter*) {});
  DeviceStore store(1);
  store.Update(std::vector<Device>{Dev("dev-0"), Dev("dev-1")});
  SlicePublisher publisher({{"gpu", "node-a", kDriver}}, [client] { return kube::StatusOr(client); }, store,
                           kube::DefaultClock());
  ASSERT_TRUE(publisher.Sync().ok());
  std::optional<json> slice = fake.Peek(ResourceSlices(), "", "gpu.node-a");
  ASSERT_TRUE(slice.has_value());
  EXPECT_EQ((*slice)["spec"]["pool"]["generation"], 1);
  EXPECT_EQ(publisher.writes(), 1u);

  fake.ClearActions();
  ASSERT_TRUE(publisher.Sync().ok());
  EXPECT_TRUE(fake.Writes().empty()) << fake.Writes().front();

  store.Update(std::vector<Device>{Dev("dev-0", false), Dev("dev-1")});
  ASSERT_TRUE(publisher.Sync().ok());
  slice = fake.Peek(ResourceSlices(), "", "gpu.node-a");
  EXPECT_EQ((*slice)["spec"]["pool"]["generation"], 2);
  EXPECT_TRUE((*slice)["spec"]["devices"][0].contains("taints"));

  // Deleted behind its back (the kubelet's clean-up): written again.
  ASSERT_TRUE(fake.Delete(ResourceSlices(), "", "gpu.node-a").ok());
  ASSERT_TRUE(publisher.Sync().ok());
  EXPECT_TRUE(fake.Peek(ResourceSlices(), "", "gpu.node-a").has_value());

  // Devices released by device-plugin pods lose their taint; while the
  // kubelet cannot be asked, nothing is written.
  kube::StatusOr<std::set<std::string>> held = std::set<std::string>{"dev-1"};
  SlicePublisher switched({{"gpu", "node-a", kDriver}}, [client] { return kube::StatusOr(client); }, store,
                          kube::DefaultClock(), [&held] { return held; });
  ASSERT_TRUE(switched.Sync().ok());
  slice = fake.Peek(ResourceSlices(), "", "gpu.node-a");
  EXPECT_EQ((*slice)["spec"]["devices"][1]["taints"][0]["key"], kDevicePluginAllocatedTaintKey);
  held = kube::Status(kube::Reason::kServiceUnavailable, "PodResources List failed");
  fake.ClearActions();
  EXPECT_FALSE(switched.Sync().ok());
  EXPECT_TRUE(fake.Writes().empty());
  held = std::set<std::string>{};
  ASSERT_TRUE(switched.Sync().ok());
  slice = fake.Peek(ResourceSlices(), "", "gpu.node-a");
  EXPECT_FALSE((*slice)["spec"]["devices"][1].contains("taints"));

  // An agent that starts with fewer devices (the store never drops one)
  // deletes the slices a larger pool needed.
  std::vector<Device> many;
  for (int i = 0; i < 70; ++i) many.push_back(Dev("d-" + std::to_string(i)));
  store.Update(many);
  ASSERT_TRUE(publisher.Sync().ok());
  EXPECT_TRUE(fake.Peek(ResourceSlices(), "", "gpu.node-a.1").has_value());
  DeviceStore restarted(1);
  restarted.Update(std::vector<Device>{Dev("dev-0")});
  SlicePublisher after({{"gpu", "node-a", kDriver}}, [client] { return kube::StatusOr(client); }, restarted,
                       kube::DefaultClock());
  ASSERT_TRUE(after.Sync().ok());
  EXPECT_FALSE(fake.Peek(ResourceSlices(), "", "gpu.node-a.1").has_value());
  slice = fake.Peek(ResourceSlices(), "", "gpu.node-a");
  EXPECT_EQ((*slice)["spec"]["devices"].size(), 1u);
  EXPECT_EQ((*slice)["spec"]["pool"]["resourceSliceCount"], 1);
}

}  // namespace
}  // namespace hf::agent
