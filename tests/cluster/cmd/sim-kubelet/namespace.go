package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// inNamespaceEnv marks the re-executed copy that already runs in the node's
// private mount namespace.
const inNamespaceEnv = "HF_SIM_KUBELET_IN_NAMESPACE"

// runInPrivateNamespace re-executes this program in a new mount namespace
// with private propagation (what unshare --mount does; Go's Unshareflags
// also makes / recursively private), so that the node's bind mount over
// /var/lib/kubelet is seen by it and its pods only, and disappears with
// them. This process stays as a thin parent that forwards signals, so that
// whoever started sim-kubelet can stop it by its pid.
func runInPrivateNamespace(o *options) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "sim-kubelet: must run as root: it mounts in private mount namespaces (CAP_SYS_ADMIN)")
		return 1
	}
	// The node's kubelet directory, and the mount point it covers.
	for _, dir := range []string{
		o.hostPath(kubeletDir + "/device-plugins"), o.hostPath(kubeletDir + "/pod-resources"),
		o.hostPath(kubeletDir + "/pods"), kubeletDir,
	} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			fmt.Fprintf(os.Stderr, "sim-kubelet: %v\n", err)
			return 1
		}
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sim-kubelet: %v\n", err)
		return 1
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), inNamespaceEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Unshareflags: syscall.CLONE_NEWNS,
		// If this parent is killed outright, the node still shuts down cleanly.
		Pdeathsig: syscall.SIGTERM,
	}
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "sim-kubelet: starting in a private mount namespace: %v\n", err)
		return 1
	}
	go func() {
		for sig := range signals {
			_ = cmd.Process.Signal(sig)
		}
	}()
	err = cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exit.ExitCode()
	default:
		fmt.Fprintf(os.Stderr, "sim-kubelet: %v\n", err)
		return 1
	}
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
