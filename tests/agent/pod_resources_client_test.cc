// PodResourcesClient against a fake PodResourcesLister on a temp socket,
// and the wire shape of proto/podresources/v1/api.proto.
#include "agent/pod_resources_client.h"

#include <gtest/gtest.h>

#include <google/protobuf/descriptor.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "podresources/v1/api.grpc.pb.h"
#include "tests/agent/testing/temp_dir.h"

namespace hf::agent {
namespace {

using testing::TempDir;

class FakeLister final : public v1::PodResourcesLister::Service {
 public:
  grpc::Status List(grpc::ServerContext*, const v1::ListPodResourcesRequest*,
                    v1::ListPodResourcesResponse* response) override {
    auto* pod = response->add_pod_resources();
    pod->set_name("p1");
    pod->set_namespace_("default");
    auto* init = pod->add_containers();
    init->set_name("init");
    AddDevices(init, "hashfoundry.com/custom-device", {"d-0"});
    auto* app = pod->add_containers();
    app->set_name("app");
    AddDevices(app, "hashfoundry.com/custom-device", {"d-0", "d-1"});  // d-0 handed on from init
    AddDevices(app, "example.com/other", {"x-0", "x-1", "x-2"});
    auto* pod2 = response->add_pod_resources();
    AddDevices(pod2->add_containers(), "hashfoundry.com/custom-device", {"d-3::1"});
    return grpc::Status::OK;
  }

 private:
  static void AddDevices(v1::ContainerResources* c, const std::string& resource, std::vector<std::string> ids) {
    auto* d = c->add_devices();
    d->set_resource_name(resource);
    for (auto& id : ids) d->add_device_ids(std::move(id));
  }
};

TEST(PodResourcesClientTest, CountsDistinctIdsOfTheResource) {
  TempDir t;
  FakeLister lister;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + t.Path("pr.sock"), grpc::InsecureServerCredentials());
  builder.RegisterService(&lister);
  auto server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  PodResourcesClient client(t.Path("pr.sock"));
  auto n = client.CountAllocated("hashfoundry.com/custom-device");
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 3);
  EXPECT_EQ(*client.CountAllocated("example.com/other"), 3);
  EXPECT_EQ(*client.CountAllocated("example.com/none"), 0);
  server->Shutdown();
}

TEST(PodResourcesClientTest, NoSocketIsNotFoundAndADeadOneUnavailable) {
  TempDir t;
  auto missing = PodResourcesClient(t.Path("none.sock")).CountAllocated("a/b");
  EXPECT_EQ(missing.status().reason(), kube::Reason::kNotFound);
  t.WriteFile("dead.sock", "");
  auto dead = PodResourcesClient(t.Path("dead.sock")).CountAllocated("a/b", std::chrono::milliseconds(500));
  EXPECT_EQ(dead.status().reason(), kube::Reason::kServiceUnavailable);
}

TEST(PodResourcesApiTest, FieldsMatchThePublishedSpecification) {
  v1::ListPodResourcesRequest linked;
  (void)linked;
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  struct Field {
    const char* message;
    const char* field;
    int number;
  };
  for (const Field& f : std::vector<Field>{{"ListPodResourcesResponse", "pod_resources", 1},
                                           {"PodResources", "name", 1},
                                           {"PodResources", "namespace", 2},
                                           {"PodResources", "containers", 3},
                                           {"ContainerResources", "name", 1},
                                           {"ContainerResources", "devices", 2},
                                           {"ContainerResources", "cpu_ids", 3},
                                           {"ContainerResources", "memory", 4},
                                           {"ContainerResources", "dynamic_resources", 5},
                                           {"ContainerDevices", "resource_name", 1},
                                           {"ContainerDevices", "device_ids", 2},
                                           {"ContainerDevices", "topology", 3},
                                           {"ContainerMemory", "memory_type", 1},
                                           {"ContainerMemory", "size", 2},
                                           {"ContainerMemory", "topology", 3},
                                           {"TopologyInfo", "nodes", 1},
                                           {"NUMANode", "ID", 1},
                                           {"AllocatableResourcesResponse", "devices", 1},
                                           {"AllocatableResourcesResponse", "cpu_ids", 2},
                                           {"AllocatableResourcesResponse", "memory", 3},
                                           {"DynamicResource", "claim_name", 2},
                                           {"DynamicResource", "claim_namespace", 3},
                                           {"DynamicResource", "claim_resources", 4},
                                           {"ClaimResource", "cdi_devices", 1},
                                           {"ClaimResource", "driver_name", 2},
                                           {"ClaimResource", "pool_name", 3},
                                           {"ClaimResource", "device_name", 4},
                                           {"ClaimResource", "share_id", 5},
                                           {"CDIDevice", "name", 1},
                                           {"GetPodResourcesRequest", "pod_name", 1},
                                           {"GetPodResourcesRequest", "pod_namespace", 2},
                                           {"GetPodResourcesResponse", "pod_resources", 1}}) {
    SCOPED_TRACE(std::string(f.message) + "." + f.field);
    const auto* msg = pool->FindMessageTypeByName(std::string("v1.") + f.message);
    ASSERT_NE(msg, nullptr);
    const auto* field = msg->FindFieldByName(f.field);
    ASSERT_NE(field, nullptr);
    EXPECT_EQ(field->number(), f.number);
  }
  const auto* service = pool->FindServiceByName("v1.PodResourcesLister");
  ASSERT_NE(service, nullptr);
  for (const char* method : {"List", "GetAllocatableResources", "Get"}) {
    EXPECT_NE(service->FindMethodByName(method), nullptr) << method;
  }
}

}  // namespace
}  // namespace hf::agent
