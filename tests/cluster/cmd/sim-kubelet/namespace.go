package main

import (
	"fmt"
	"os"
	"syscall"

	"hashfoundry.com/device-operator/tests/cluster/internal/mountns"
)

// inNamespaceEnv marks the re-executed copy that already runs in the node's
// private mount namespace.
const inNamespaceEnv = "HF_SIM_KUBELET_IN_NAMESPACE"

// runInPrivateNamespace re-executes this program in a private mount
// namespace (see internal/mountns), so that the node's bind mount over
// /var/lib/kubelet is seen by it and its pods only.
func runInPrivateNamespace(o *options) int {
	if err := mountns.CheckRoot(); err != nil {
		fmt.Fprintf(os.Stderr, "sim-kubelet: %v\n", err)
		return 1
	}
	// The node's kubelet directory, and the mount point it covers.
	for _, dir := range []string{
		o.hostPath(kubeletDir + "/device-plugins"), o.hostPath(kubeletDir + "/pod-resources"),
		o.hostPath(kubeletDir + "/pods"), o.hostPath(kubeletDir + "/plugins"), o.hostPath(pluginsRegistryDir), kubeletDir,
	} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			fmt.Fprintf(os.Stderr, "sim-kubelet: %v\n", err)
			return 1
		}
	}
	code, err := mountns.Reexec(inNamespaceEnv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sim-kubelet: %v\n", err)
	}
	return code
}

// enterNodeRoot makes the node's kubelet directory appear at
// /var/lib/kubelet, in this (private) mount namespace only.
func enterNodeRoot(o *options) error {
	src := o.hostPath(kubeletDir)
	if err := syscall.Mount(src, kubeletDir, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mounting %s over %s: %w", src, kubeletDir, err)
	}
	return nil
}
