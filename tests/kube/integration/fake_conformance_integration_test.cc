// kube::FakeClient's promises (tests/kube/fake/conformance.h) held by a real
// kube-apiserver: what the fake does in controller unit tests is what the
// server does.
#include <gtest/gtest.h>

#include "kube/rest/client.h"
#include "tests/kube/fake/conformance.h"
#include "tests/testing/cluster.h"

namespace hf::kube {
namespace {

class FakeConformanceIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = hf::testing::LocalCluster::Shared().AdminClient();
    ns_ = hf::testing::UniqueName("fake-conf");
    auto created = client_->Create(resources::Namespaces(), "", Json{{"metadata", {{"name", ns_}}}});
    ASSERT_TRUE(created.ok()) << created.status().ToString();
  }
  void TearDown() override { (void)client_->Delete(resources::Namespaces(), "", ns_); }

  std::unique_ptr<Client> client_;
  std::string ns_;
};

TEST_F(FakeConformanceIntegrationTest, NoOpWritesKeepTheResourceVersion) {
  conformance::NoOpWritesKeepTheResourceVersion(*client_, ns_);
}
TEST_F(FakeConformanceIntegrationTest, StaleWritesConflict) { conformance::StaleWritesConflict(*client_, ns_); }
TEST_F(FakeConformanceIntegrationTest, FinalizersHoldADeletion) { conformance::FinalizersHoldADeletion(*client_, ns_); }
TEST_F(FakeConformanceIntegrationTest, ApplyRemovesWhatTheManagerDropped) {
  conformance::ApplyRemovesWhatTheManagerDropped(*client_, ns_);
}
TEST_F(FakeConformanceIntegrationTest, WatchFollowsTheSelector) { conformance::WatchFollowsTheSelector(*client_, ns_); }
TEST_F(FakeConformanceIntegrationTest, MetadataOnlyGets) { conformance::MetadataOnlyGets(*client_, ns_); }

}  // namespace
}  // namespace hf::kube
