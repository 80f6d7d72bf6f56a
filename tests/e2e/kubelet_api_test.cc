// kubectl logs and kubectl exec on the agent pods: the API server reaches
// each simulated node's kubelet API (tests/cluster's sim-kubelet serves the
// kubelet's own server over TLS, with a serving certificate from the
// cluster CA), which returns the agent's output and runs a command in its
// container's view (tests/cluster/README.md, "Kubelet API").
#include "tests/e2e/e2e_fixture.h"

namespace hf::e2e {
namespace {

TEST_F(E2eTest, KubectlLogsAndExecReachTheAgents) {
  ASSERT_EQ(WaitPoolReady().exit_code, 0) << Logs();
  for (const auto& n : nodes_) {
    SCOPED_TRACE(n.name);
    const std::string pod = StringAt(AgentPod(n.name), {"metadata", "name"});
    ASSERT_FALSE(pod.empty());
    auto k = Kubectl({"logs", "-n", release_, pod});
    EXPECT_EQ(k.exit_code, 0) << k.output;
    EXPECT_NE(k.output.find("starting: pool " + std::string(kPool) + ", node " + n.name), std::string::npos) << k.output;

    // The command runs with the agent container's environment and sees its
    // mounts: the pool's device directory is bind-mounted in its view only.
    k = Kubectl({"exec", "-n", release_, pod, "--", "/bin/sh", "-c",
                 "echo hi && ls /var/lib/hashfoundry/devices/" + std::string(kPool)});
    EXPECT_EQ(k.exit_code, 0) << k.output;
    EXPECT_EQ(k.output.rfind("hi\n", 0), 0u) << k.output;
    EXPECT_NE(k.output.find("hashfoundry-device-3"), std::string::npos) << k.output;

    k = Kubectl({"exec", "-n", release_, pod, "--", "/bin/sh", "-c", "exit 3"});
    EXPECT_EQ(k.exit_code, 3) << k.output;
  }
}

}  // namespace
}  // namespace hf::e2e
