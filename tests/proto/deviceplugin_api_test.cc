// Wire compatibility of proto/deviceplugin/v1beta1/api.proto: the package,
// services, methods and every field number the kubelet relies on. The
// cluster-backed test in tests/cluster compares the same file against the
// kubelet's own api.proto; this one needs nothing but the generated code.
#include <gtest/gtest.h>

#include <google/protobuf/descriptor.h>

#include "deviceplugin/v1beta1/api.grpc.pb.h"
#include "deviceplugin/v1beta1/api.pb.h"

namespace {

using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;

struct FieldCase {
  const char* message;
  const char* field;
  int number;
  FieldDescriptor::Type type;
  bool repeated;
};

constexpr FieldDescriptor::Type kString = FieldDescriptor::TYPE_STRING;
constexpr FieldDescriptor::Type kBool = FieldDescriptor::TYPE_BOOL;
constexpr FieldDescriptor::Type kMsg = FieldDescriptor::TYPE_MESSAGE;

const FieldCase kFields[] = {
    {"DevicePluginOptions", "pre_start_required", 1, kBool, false},
    {"DevicePluginOptions", "get_preferred_allocation_available", 2, kBool, false},
    {"RegisterRequest", "version", 1, kString, false},
    {"RegisterRequest", "endpoint", 2, kString, false},
    {"RegisterRequest", "resource_name", 3, kString, false},
    {"RegisterRequest", "options", 4, kMsg, false},
    {"ListAndWatchResponse", "devices", 1, kMsg, true},
    {"TopologyInfo", "nodes", 1, kMsg, true},
    {"NUMANode", "ID", 1, FieldDescriptor::TYPE_INT64, false},
    {"Device", "ID", 1, kString, false},
    {"Device", "health", 2, kString, false},
    {"Device", "topology", 3, kMsg, false},
    {"PreStartContainerRequest", "devices_ids", 1, kString, true},
    {"PreferredAllocationRequest", "container_requests", 1, kMsg, true},
    {"ContainerPreferredAllocationRequest", "available_deviceIDs", 1, kString, true},
    {"ContainerPreferredAllocationRequest", "must_include_deviceIDs", 2, kString, true},
    {"ContainerPreferredAllocationRequest", "allocation_size", 3, FieldDescriptor::TYPE_INT32, false},
    {"PreferredAllocationResponse", "container_responses", 1, kMsg, true},
    {"ContainerPreferredAllocationResponse", "deviceIDs", 1, kString, true},
    {"AllocateRequest", "container_requests", 1, kMsg, true},
    {"ContainerAllocateRequest", "devices_ids", 1, kString, true},
    {"CDIDevice", "name", 1, kString, false},
    {"AllocateResponse", "container_responses", 1, kMsg, true},
    {"ContainerAllocateResponse", "envs", 1, kMsg, true},
    {"ContainerAllocateResponse", "mounts", 2, kMsg, true},
    {"ContainerAllocateResponse", "devices", 3, kMsg, true},
    {"ContainerAllocateResponse", "annotations", 4, kMsg, true},
    {"ContainerAllocateResponse", "cdi_devices", 5, kMsg, true},
    {"Mount", "container_path", 1, kString, false},
    {"Mount", "host_path", 2, kString, false},
    {"Mount", "read_only", 3, kBool, false},
    {"DeviceSpec", "container_path", 1, kString, false},
    {"DeviceSpec", "host_path", 2, kString, false},
    {"DeviceSpec", "permissions", 3, kString, false},
};

TEST(DevicePluginApiTest, FieldsMatchThePublishedSpecification) {
  // Touch a generated type so the file's descriptor is linked in.
  v1beta1::Empty linked;
  (void)linked;
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  for (const auto& c : kFields) {
    SCOPED_TRACE(std::string(c.message) + "." + c.field);
    const auto* msg = pool->FindMessageTypeByName(std::string("v1beta1.") + c.message);
    ASSERT_NE(msg, nullptr);
    const auto* field = msg->FindFieldByName(c.field);
    ASSERT_NE(field, nullptr);
    EXPECT_EQ(field->number(), c.number);
    EXPECT_EQ(field->type(), c.type);
    EXPECT_EQ(field->is_repeated(), c.repeated);
  }
}

TEST(DevicePluginApiTest, ServicesAndMethods) {
  const auto* file = v1beta1::Empty::descriptor()->file();
  EXPECT_EQ(file->package(), "v1beta1");
  const auto* reg = file->FindServiceByName("Registration");
  ASSERT_NE(reg, nullptr);
  ASSERT_NE(reg->FindMethodByName("Register"), nullptr);

  const auto* dp = file->FindServiceByName("DevicePlugin");
  ASSERT_NE(dp, nullptr);
  for (const char* m : {"GetDevicePluginOptions", "ListAndWatch", "GetPreferredAllocation",
                        "Allocate", "PreStartContainer"}) {
    EXPECT_NE(dp->FindMethodByName(m), nullptr) << m;
  }
  EXPECT_TRUE(dp->FindMethodByName("ListAndWatch")->server_streaming());
  EXPECT_FALSE(dp->FindMethodByName("Allocate")->server_streaming());
}

TEST(DevicePluginApiTest, EncodesAsTheKubeletExpects) {
  // RegisterRequest{version:"v1beta1"} is field 1, wire type 2: tag byte 0x0a.
  v1beta1::RegisterRequest req;
  req.set_version("v1beta1");
  std::string wire = req.SerializeAsString();
  ASSERT_GE(wire.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(wire[0]), 0x0a);
  EXPECT_EQ(static_cast<unsigned char>(wire[1]), 7);
  EXPECT_EQ(wire.substr(2), "v1beta1");
}

}  // namespace
