#include "kube/discovery/discovery.h"

#include <gtest/gtest.h>

#include "tests/kube/testing/fake_transport.h"

namespace hf::kube {
namespace {

using std::chrono::seconds;
using testing::FakeTransport;

constexpr char kCoreV1[] = R"({"kind":"APIResourceList","groupVersion":"v1","resources":[
  {"name":"configmaps","namespaced":true,"kind":"ConfigMap"},
  {"name":"pods","namespaced":true,"kind":"Pod"},
  {"name":"pods/status","namespaced":true,"kind":"Pod"}]})";
constexpr char kCoordinationV1[] = R"({"kind":"APIResourceList","groupVersion":"coordination.k8s.io/v1",
  "resources":[{"name":"leases","namespaced":true,"kind":"Lease"}]})";
constexpr char kMonitoringV1[] = R"({"kind":"APIResourceList","groupVersion":"monitoring.coreos.com/v1",
  "resources":[{"name":"servicemonitors","namespaced":true,"kind":"ServiceMonitor"}]})";

GroupVersionResource ServiceMonitors() { return {"monitoring.coreos.com", "v1", "servicemonitors", true}; }

class DiscoveryTest : public ::testing::Test {
 protected:
  bool Served(const GroupVersionResource& gvr) {
    auto served = discovery_.IsServed(gvr);
    EXPECT_TRUE(served.ok()) << served.status().ToString();
    return served.ok() && *served;
  }

  std::shared_ptr<FakeTransport> transport_ = std::make_shared<FakeTransport>();
  FakeClock clock_;
  Client client_{transport_, ClientOptions{nullptr, &clock_, nullptr, 0}};
  ServerDiscovery discovery_{client_, clock_};
};

TEST_F(DiscoveryTest, FindsResourcesOfTheCoreAndNamedGroups) {
  transport_->Respond("GET /api/v1", 200, kCoreV1);
  transport_->Respond("GET /apis/coordination.k8s.io/v1", 200, kCoordinationV1);
  EXPECT_TRUE(Served(resources::ConfigMaps()));
  EXPECT_TRUE(Served(resources::Pods()));
  EXPECT_FALSE(Served({"", "v1", "status", true}));  // only ever a subresource
  EXPECT_TRUE(Served(resources::Leases()));
  EXPECT_FALSE(Served({"coordination.k8s.io", "v1", "widgets", true}));

  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 2u);  // one document per group-version
  EXPECT_EQ(reqs[0].path, "/api/v1");
  EXPECT_EQ(reqs[1].path, "/apis/coordination.k8s.io/v1");
}

TEST_F(DiscoveryTest, AnUnknownGroupVersionIsNotServedAndNotAnError) {
  transport_->Respond("GET /apis/monitoring.coreos.com/v1", 404, "404 page not found");
  EXPECT_FALSE(Served(ServiceMonitors()));
  EXPECT_FALSE(Served(ServiceMonitors()));
  EXPECT_EQ(transport_->requests().size(), 1u);  // the answer is cached
}

TEST_F(DiscoveryTest, OtherFailuresAreReturnedAndNotCached) {
  transport_->Respond("GET /apis/monitoring.coreos.com/v1", 503, "aggregated API unavailable");
  transport_->Respond("GET /apis/monitoring.coreos.com/v1", 200, kMonitoringV1);
  auto failed = discovery_.IsServed(ServiceMonitors());
  EXPECT_EQ(failed.status().reason(), Reason::kServiceUnavailable);
  EXPECT_TRUE(Served(ServiceMonitors()));
}

TEST_F(DiscoveryTest, TheCacheExpiresAndInvalidateDropsIt) {
  transport_->Respond("GET /apis/monitoring.coreos.com/v1", 404, "404 page not found");
  transport_->Respond("GET /apis/monitoring.coreos.com/v1", 200, kMonitoringV1);
  transport_->Respond("GET /apis/monitoring.coreos.com/v1", 404, "404 page not found");
  EXPECT_FALSE(Served(ServiceMonitors()));
  clock_.Step(seconds(29));
  EXPECT_FALSE(Served(ServiceMonitors()));  // still the cached answer
  EXPECT_EQ(transport_->requests().size(), 1u);
  clock_.Step(seconds(1));
  EXPECT_TRUE(Served(ServiceMonitors()));  // the CRD was installed meanwhile
  EXPECT_EQ(transport_->requests().size(), 2u);
  discovery_.Invalidate();
  EXPECT_FALSE(Served(ServiceMonitors()));  // and removed again
  EXPECT_EQ(transport_->requests().size(), 3u);
}

}  // namespace
}  // namespace hf::kube
