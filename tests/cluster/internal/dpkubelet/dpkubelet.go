// Package dpkubelet runs the kubelet's own device-plugin registration server
// and plugin client (k8s.io/kubernetes/pkg/kubelet/cm/devicemanager/plugin/v1beta1)
// with a Handler that plays the rest of the device manager: it cleans the
// directory on start, reads the plugin's options on Register, and records
// every connection and ListAndWatch message for a caller to wait on.
//
// The device-plugin conformance test and cmd/agent-bench share it.
package dpkubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/klog/v2"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
	plugin "k8s.io/kubernetes/pkg/kubelet/cm/devicemanager/plugin/v1beta1"
)

// Conn is one accepted registration.
type Conn struct {
	At       time.Time
	Resource string
	Plugin   plugin.DevicePlugin
	Options  *pluginapi.DevicePluginOptions
}

// List is one ListAndWatch message as it arrived: device id -> health.
type List struct {
	At     time.Time
	Health map[string]string
}

// Handler records what the kubelet's code reports, per resource, until a
// Wait call takes it.
type Handler struct {
	mu      sync.Mutex
	conns   map[string][]Conn
	lists   map[string][]List
	changed chan struct{} // closed and replaced on every change
}

// New returns an empty Handler.
func New() *Handler {
	return &Handler{conns: map[string][]Conn{}, lists: map[string][]List{}, changed: make(chan struct{})}
}

// Serve starts the kubelet's registration server on socket with h behind it.
// Stopping the returned server and serving again is a kubelet restart: Start
// removes every socket in the directory first, as the kubelet does.
func Serve(logger klog.Logger, socket string, h *Handler) (plugin.Server, error) {
	s, err := plugin.NewServer(logger, socket, h, h)
	if err != nil {
		return nil, err
	}
	if err := s.Start(logger); err != nil {
		return nil, err
	}
	return s, nil
}

// CleanupPluginDirectory removes every socket but the checkpoint, as the
// device manager does when it starts.
func (h *Handler) CleanupPluginDirectory(_ klog.Logger, dir string) error {
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
func (h *Handler) PluginConnected(ctx context.Context, resource string, p plugin.DevicePlugin) error {
	options, err := p.API().GetDevicePluginOptions(ctx, &pluginapi.Empty{})
	if err != nil {
		return err
	}
	c := Conn{At: time.Now(), Resource: resource, Plugin: p, Options: options}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.conns[resource] = append(h.conns[resource], c)
	h.notifyLocked()
	return nil
}

func (h *Handler) PluginDisconnected(klog.Logger, string) {}

func (h *Handler) PluginListAndWatchReceiver(_ klog.Logger, resource string, resp *pluginapi.ListAndWatchResponse) {
	l := List{At: time.Now(), Health: map[string]string{}}
	for _, d := range resp.Devices {
		l.Health[d.ID] = d.Health
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lists[resource] = append(h.lists[resource], l)
	h.notifyLocked()
}

func (h *Handler) notifyLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// WaitConnected takes the oldest registration of resource not yet taken,
// waiting for one until ctx ends.
func (h *Handler) WaitConnected(ctx context.Context, resource string) (Conn, error) {
	var c Conn
	err := h.wait(ctx, func() bool {
		q := h.conns[resource]
		if len(q) == 0 {
			return false
		}
		c, h.conns[resource] = q[0], q[1:]
		return true
	})
	if err != nil {
		return Conn{}, fmt.Errorf("no registration of %s: %w", resource, err)
	}
	return c, nil
}

// WaitList takes ListAndWatch messages of resource in order until one
// satisfies want, and returns it; the ones before it are dropped.
func (h *Handler) WaitList(ctx context.Context, resource, what string, want func(List) bool) (List, error) {
	var found List
	err := h.wait(ctx, func() bool {
		for q := h.lists[resource]; len(q) > 0; q = h.lists[resource] {
			h.lists[resource] = q[1:]
			if want(q[0]) {
				found = q[0]
				return true
			}
		}
		return false
	})
	if err != nil {
		return List{}, fmt.Errorf("no ListAndWatch message of %s with %s: %w", resource, what, err)
	}
	return found, nil
}

func (h *Handler) wait(ctx context.Context, take func() bool) error {
	for {
		h.mu.Lock()
		ok, changed := take(), h.changed
		h.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
