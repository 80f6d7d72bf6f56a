// Command sim-kubelet simulates one Kubernetes node against the local control
// plane of tests/cluster, so that the operator's e2e tests and demo meet a
// real kubelet device manager without a container runtime.
//
// What is real: the kubelet's device manager (k8s.io/kubernetes
// pkg/kubelet/cm/devicemanager, v1.36.3) with its registration socket,
// ListAndWatch handling, checkpoint and Allocate path; its DRA manager
// (pkg/kubelet/cm/dra) and plugin manager (pkg/kubelet/pluginmanager), which
// register DRA drivers and prepare and unprepare pods' claims; the
// PodResources v1 server; the kubelet's pod condition generators, status patching, probe
// requests, projected-volume atomic writer and $(VAR) expansion; the node
// Lease controller. What is simulated: containers are local processes (only
// for DaemonSet pods), every other pod is admitted through the device manager
// and reported Running without running anything; the container runtime's
// CDI support is the CDI reference library. See README.md.
//
// Modes (the first argument):
//
//	sim-kubelet FLAGS                     the node; re-executes itself in a private mount namespace
//	sim-kubelet container-exec SPEC FD    internal: one container process (see container_exec.go)
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == containerExecCommand {
		os.Exit(containerExec(os.Args[2:]))
	}
	opts, err := parseOptions(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "sim-kubelet: %v\n", err)
		os.Exit(2)
	}
	if os.Getenv(inNamespaceEnv) != "1" {
		os.Exit(runInPrivateNamespace(opts))
	}
	os.Exit(runKubelet(opts))
}
