package cluster_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"hashfoundry.com/device-operator/tests/cluster/internal/dpkubelet"
	"k8s.io/klog/v2"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
	plugin "k8s.io/kubernetes/pkg/kubelet/cm/devicemanager/plugin/v1beta1"
)

// TestDevicePluginConformance runs the C++ devicepool-agent (HF_AGENT_BIN)
// against the kubelet's own device-plugin code from k8s.io/kubernetes: its
// registration server (NewServer, which validates Register, cleans the
// directory on start and dials the plugin back) and its plugin client (the
// connection and ListAndWatch loop the device manager uses). The handler in
// internal/dpkubelet stands in for the rest of the device manager.
//
// It checks that the agent registers and lists its devices, that Allocate
// through the kubelet's client returns the agent's env and mounts, that a
// removed device file turns Unhealthy and a restored one Healthy within a
// second, that a restarted kubelet gets a new registration within a second
// of its new kubelet.sock, and that SIGTERM removes the agent's socket but
// not the devices.
func TestDevicePluginConformance(t *testing.T) {
	bin := os.Getenv("HF_AGENT_BIN")
	if bin == "" {
		t.Skip("HF_AGENT_BIN is not set: build the devicepool-agent target and point HF_AGENT_BIN at the binary " +
			"(CTest's agent_kubelet_conformance does)")
	}
	// Unix socket paths are limited to 107 bytes, so not t.TempDir().
	base, err := os.MkdirTemp("/tmp", "hfdp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	kubeletDir := filepath.Join(base, "device-plugins")
	devDir := filepath.Join(base, "dev")
	for _, d := range []string{kubeletDir, devDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	logger := klog.Background()
	kubeletSock := filepath.Join(kubeletDir, "kubelet.sock")
	agentSock := filepath.Join(kubeletDir, "hashfoundry.com_custom-device.sock")

	first := dpkubelet.New()
	server := dpStartServer(t, logger, kubeletSock, first)

	agent := exec.Command(bin,
		"--report=false",
		"--pool=conformance",
		"--node-name=node-a",
		"--resource-name="+dpResource,
		"--discovery=simulated",
		"--simulated-count=4",
		"--simulated-prefix=hashfoundry-device",
		"--allocation-policy=packed",
		"--health-interval=1h", // so only inotify can drive health changes
		"--dev-root="+devDir,
		"--sys-root="+filepath.Join(base, "sys"),
		"--kubelet-dir="+kubeletDir,
		"--pod-resources-socket="+filepath.Join(base, "no-pod-resources.sock"),
		"--http-address=127.0.0.1:0")
	logPath := filepath.Join(base, "agent.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	agent.Stdout, agent.Stderr = logFile, logFile
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- agent.Wait() }()
	t.Cleanup(func() {
		_ = agent.Process.Kill()
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("agent log:\n%s", out)
		}
	})

	ids := []string{"hashfoundry-device-0", "hashfoundry-device-1", "hashfoundry-device-2", "hashfoundry-device-3"}
	allHealthy := func(l dpkubelet.List) bool {
		if len(l.Health) != len(ids) {
			return false
		}
		for _, id := range ids {
			if l.Health[id] != pluginapi.Healthy {
				return false
			}
		}
		return true
	}

	// Registration: the kubelet's server accepted it (version, resource
	// name, a dial back to the agent's socket) and ListAndWatch lists all.
	conn := dpWaitConnected(t, first)
	if conn.Resource != dpResource {
		t.Fatalf("registered resource %q, want %q", conn.Resource, dpResource)
	}
	if !conn.Options.GetPreferredAllocationAvailable || conn.Options.PreStartRequired {
		t.Errorf("options = %+v, want preferred allocation and no pre-start", conn.Options)
	}
	dpWaitList(t, first, "4 healthy devices", allHealthy)

	// Allocate the way the device manager does: ask for a preference, then
	// allocate it, over the kubelet's own connection.
	api := conn.Plugin.API()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pref, err := api.GetPreferredAllocation(ctx, &pluginapi.PreferredAllocationRequest{
		ContainerRequests: []*pluginapi.ContainerPreferredAllocationRequest{{
			AvailableDeviceIDs:   ids,
			MustIncludeDeviceIDs: []string{"hashfoundry-device-3"},
			AllocationSize:       2,
		}},
	})
	if err != nil {
		t.Fatalf("GetPreferredAllocation: %v", err)
	}
	chosen := pref.ContainerResponses[0].DeviceIDs
	if len(chosen) != 2 || !slices.Contains(chosen, "hashfoundry-device-3") {
		t.Fatalf("preferred %v, want 2 ids including hashfoundry-device-3", chosen)
	}
	resp, err := api.Allocate(ctx, &pluginapi.AllocateRequest{
		ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: chosen}},
	})
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	if len(resp.ContainerResponses) != 1 {
		t.Fatalf("Allocate answered %d containers, want 1", len(resp.ContainerResponses))
	}
	c := resp.ContainerResponses[0]
	if got, want := c.Envs["HASHFOUNDRY_DEVICE_IDS"], strings.Join(chosen, ","); got != want {
		t.Errorf("HASHFOUNDRY_DEVICE_IDS = %q, want %q", got, want)
	}
	if c.Envs["HASHFOUNDRY_DEVICE_COUNT"] != "2" {
		t.Errorf("HASHFOUNDRY_DEVICE_COUNT = %q, want 2", c.Envs["HASHFOUNDRY_DEVICE_COUNT"])
	}
	if c.Envs["HASHFOUNDRY_DEVICE_0_PATH"] != "/dev/"+chosen[0] {
		t.Errorf("HASHFOUNDRY_DEVICE_0_PATH = %q", c.Envs["HASHFOUNDRY_DEVICE_0_PATH"])
	}
	if c.Annotations["hashfoundry.com/device-ids"] != strings.Join(chosen, ",") {
		t.Errorf("annotations = %v", c.Annotations)
	}
	if len(c.Mounts) != 2 || len(c.Devices) != 0 {
		t.Fatalf("mounts %v, devices %v: want 2 bind mounts (simulated devices are regular files)", c.Mounts, c.Devices)
	}
	for i, m := range c.Mounts {
		if m.HostPath != filepath.Join(devDir, chosen[i]) || m.ContainerPath != "/dev/"+chosen[i] || m.ReadOnly {
			t.Errorf("mount %d = %+v", i, m)
		}
	}
	_, err = api.Allocate(ctx, &pluginapi.AllocateRequest{
		ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: []string{"no-such-device"}}},
	})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "no-such-device") {
		t.Errorf("Allocate of an unknown id: %v, want InvalidArgument naming it", err)
	}

	// Health, driven by inotify: remove a device file, then restore it.
	broken := filepath.Join(devDir, "hashfoundry-device-2")
	removed := time.Now()
	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}
	l := dpWaitList(t, first, "device 2 Unhealthy", func(l dpkubelet.List) bool {
		return l.Health["hashfoundry-device-2"] == pluginapi.Unhealthy && l.Health["hashfoundry-device-1"] == pluginapi.Healthy
	})
	toUnhealthy := l.At.Sub(removed)
	restored := time.Now()
	if err := os.WriteFile(broken, []byte("restored\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l = dpWaitList(t, first, "device 2 Healthy again", allHealthy)
	toHealthy := l.At.Sub(restored)
	t.Logf("health propagation to the kubelet: Unhealthy after %v, Healthy after %v", toUnhealthy, toHealthy)
	if toUnhealthy > time.Second || toHealthy > time.Second {
		t.Errorf("health changes took %v and %v, want under 1s each", toUnhealthy, toHealthy)
	}

	// Kubelet restart: the old registration server goes away, a new one
	// starts (its Start removes every socket in the directory, the agent's
	// included, as the kubelet does) and serves a new kubelet.sock.
	if err := server.Stop(logger); err != nil {
		t.Fatal(err)
	}
	second := dpkubelet.New()
	server = dpStartServer(t, logger, kubeletSock, second)
	started := time.Now()
	conn = dpWaitConnected(t, second)
	reregistered := conn.At.Sub(started)
	t.Logf("re-registration after the new kubelet.sock: %v", reregistered)
	if reregistered > time.Second {
		t.Errorf("re-registration took %v, want under 1s", reregistered)
	}
	dpWaitList(t, second, "4 healthy devices after the restart", allHealthy)
	if _, err := conn.Plugin.API().Allocate(ctx, &pluginapi.AllocateRequest{
		ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: []string{"hashfoundry-device-0"}}},
	}); err != nil {
		t.Errorf("Allocate after the restart: %v", err)
	}

	// SIGTERM: a clean exit, the socket gone, the devices still there.
	if err := agent.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("agent exited with %v, want 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("agent did not exit within 15s of SIGTERM")
	}
	if _, err := os.Stat(agentSock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("agent socket after shutdown: %v, want it removed", err)
	}
	for _, id := range ids {
		if _, err := os.Stat(filepath.Join(devDir, id)); err != nil {
			t.Errorf("device file %s after shutdown: %v", id, err)
		}
	}
	if err := server.Stop(logger); err != nil {
		t.Error(err)
	}
}

const dpResource = "hashfoundry.com/custom-device"

func dpWaitConnected(t *testing.T, k *dpkubelet.Handler) dpkubelet.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := k.WaitConnected(ctx, dpResource)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dpWaitList returns the first ListAndWatch message matching want.
func dpWaitList(t *testing.T, k *dpkubelet.Handler, what string, want func(dpkubelet.List) bool) dpkubelet.List {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	l, err := k.WaitList(ctx, dpResource, what, want)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func dpStartServer(t *testing.T, logger klog.Logger, socket string, k *dpkubelet.Handler) plugin.Server {
	t.Helper()
	s, err := dpkubelet.Serve(logger, socket, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
