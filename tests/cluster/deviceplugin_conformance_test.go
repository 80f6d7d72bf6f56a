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
	"k8s.io/klog/v2"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
	plugin "k8s.io/kubernetes/pkg/kubelet/cm/devicemanager/plugin/v1beta1"
)

// TestDevicePluginConformance runs the C++ devicepool-agent (HF_AGENT_BIN)
// against the kubelet's own device-plugin code from k8s.io/kubernetes: its
// registration server (NewServer, which validates Register, cleans the
// directory on start and dials the plugin back) and its plugin client (the
// connection and ListAndWatch loop the device manager uses). The handler
// below stands in for the rest of the device manager, as its
// CleanupPluginDirectory and PluginConnected do.
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

	first := newDPKubelet()
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
	allHealthy := func(l dpList) bool {
		if len(l.health) != len(ids) {
			return false
		}
		for _, id := range ids {
			if l.health[id] != pluginapi.Healthy {
				return false
			}
		}
		return true
	}

	// Registration: the kubelet's server accepted it (version, resource
	// name, a dial back to the agent's socket) and ListAndWatch lists all.
	conn := first.waitConnected(t, 10*time.Second)
	if conn.resource != dpResource {
		t.Fatalf("registered resource %q, want %q", conn.resource, dpResource)
	}
	if !conn.options.GetPreferredAllocationAvailable || conn.options.PreStartRequired {
		t.Errorf("options = %+v, want preferred allocation and no pre-start", conn.options)
	}
	first.waitList(t, "4 healthy devices", allHealthy)

	// Allocate the way the device manager does: ask for a preference, then
	// allocate it, over the kubelet's own connection.
	api := conn.plugin.API()
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
	l := first.waitList(t, "device 2 Unhealthy", func(l dpList) bool {
		return l.health["hashfoundry-device-2"] == pluginapi.Unhealthy && l.health["hashfoundry-device-1"] == pluginapi.Healthy
	})
	toUnhealthy := l.at.Sub(removed)
	restored := time.Now()
	if err := os.WriteFile(broken, []byte("restored\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l = first.waitList(t, "device 2 Healthy again", allHealthy)
	toHealthy := l.at.Sub(restored)
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
	second := newDPKubelet()
	server = dpStartServer(t, logger, kubeletSock, second)
	started := time.Now()
	conn = second.waitConnected(t, 10*time.Second)
	reregistered := conn.at.Sub(started)
	t.Logf("re-registration after the new kubelet.sock: %v", reregistered)
	if reregistered > time.Second {
		t.Errorf("re-registration took %v, want under 1s", reregistered)
	}
	second.waitList(t, "4 healthy devices after the restart", allHealthy)
	if _, err := conn.plugin.API().Allocate(ctx, &pluginapi.AllocateRequest{
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

// dpKubelet plays the parts of the kubelet's device manager that the
// registration server and plugin client call back into.
type dpKubelet struct {
	connected chan dpConn
	lists     chan dpList
}

type dpConn struct {
	at       time.Time
	resource string
	plugin   plugin.DevicePlugin
	options  *pluginapi.DevicePluginOptions
}

// dpList is one ListAndWatch message as it arrived: device id -> health.
type dpList struct {
	at     time.Time
	health map[string]string
}

func newDPKubelet() *dpKubelet {
	return &dpKubelet{connected: make(chan dpConn, 16), lists: make(chan dpList, 256)}
}

// CleanupPluginDirectory removes every socket but the checkpoint, as the
// device manager does when it starts.
func (k *dpKubelet) CleanupPluginDirectory(_ klog.Logger, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == "kubelet_internal_checkpoint" || e.Type()&os.ModeSocket == 0 {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// PluginConnected reads the plugin's options during Register, as the device
// manager does (an error fails the registration).
func (k *dpKubelet) PluginConnected(ctx context.Context, resource string, p plugin.DevicePlugin) error {
	options, err := p.API().GetDevicePluginOptions(ctx, &pluginapi.Empty{})
	if err != nil {
		return err
	}
	k.connected <- dpConn{at: time.Now(), resource: resource, plugin: p, options: options}
	return nil
}

func (k *dpKubelet) PluginDisconnected(klog.Logger, string) {}

func (k *dpKubelet) PluginListAndWatchReceiver(_ klog.Logger, _ string, resp *pluginapi.ListAndWatchResponse) {
	l := dpList{at: time.Now(), health: map[string]string{}}
	for _, d := range resp.Devices {
		l.health[d.ID] = d.Health
	}
	select {
	case k.lists <- l:
	default: // a test that stopped reading must not block the kubelet code
	}
}

func (k *dpKubelet) waitConnected(t *testing.T, timeout time.Duration) dpConn {
	t.Helper()
	select {
	case c := <-k.connected:
		return c
	case <-time.After(timeout):
		t.Fatalf("no registration within %v", timeout)
		return dpConn{}
	}
}

// waitList returns the first ListAndWatch message matching want.
func (k *dpKubelet) waitList(t *testing.T, what string, want func(dpList) bool) dpList {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l := <-k.lists:
			if want(l) {
				return l
			}
		case <-deadline:
			t.Fatalf("no ListAndWatch message with %s within 10s", what)
			return dpList{}
		}
	}
}

func dpStartServer(t *testing.T, logger klog.Logger, socket string, k *dpKubelet) plugin.Server {
	t.Helper()
	s, err := plugin.NewServer(logger, socket, k, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(logger); err != nil {
		t.Fatal(err)
	}
	return s
}
