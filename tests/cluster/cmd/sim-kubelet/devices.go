package main

import (
	"context"
	"fmt"
	"sort"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	podresourcesapi "k8s.io/kubelet/pkg/apis/podresources/v1"
	"k8s.io/kubernetes/pkg/kubelet/cm/containermap"
	"k8s.io/kubernetes/pkg/kubelet/cm/devicemanager"
	"k8s.io/kubernetes/pkg/kubelet/cm/topologymanager"
	"k8s.io/kubernetes/pkg/kubelet/pluginmanager/cache"
)

// podSource is what the device manager needs to know about the node's pods:
// which are active (their devices stay allocated) and which containers run
// (so that a restarted device manager leaves them alone).
type podSource interface {
	activePods() []*v1.Pod
	runningContainers() (containermap.ContainerMap, sets.Set[string])
	synced() bool
}

// deviceManager owns the kubelet's real device manager
// (devicemanager.ManagerImpl) across simulated kubelet restarts. It is safe
// for concurrent use; Allocate calls are serialised, as the kubelet's pod
// admission is.
type deviceManager struct {
	pods podSource
	// healthChanged receives the UIDs of pods whose allocated devices
	// changed health (the ResourceHealthStatus feature).
	healthChanged func(types.UID)

	mu       sync.Mutex
	impl     *devicemanager.ManagerImpl
	stopLoop chan struct{}
}

// sourcesReady tells the device manager when the pod list can be trusted:
// before the pod informer has synced, a pod missing from activePods may just
// not have been seen yet, and its devices must not be freed.
type sourcesReady struct{ synced func() bool }

func (sourcesReady) AddSource(string) {}
func (s sourcesReady) AllReady() bool { return s.synced() }

// start creates a device manager as the kubelet does at startup: it reads its
// checkpoint, removes every socket in the device-plugins directory but the
// checkpoint, and listens on kubelet.sock for plugins to register.
func (d *deviceManager) start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.startLocked()
}

func (d *deviceManager) startLocked() error {
	// The "none" topology policy, the kubelet's default: no NUMA alignment
	// is asked of the devices.
	impl, err := devicemanager.NewManagerImpl(nil, topologymanager.NewNoneScope())
	if err != nil {
		return err
	}
	containers, running := d.pods.runningContainers()
	if err := impl.Start(klog.Background(), d.pods.activePods, sourcesReady{d.pods.synced}, containers, running); err != nil {
		return fmt.Errorf("starting the device manager: %w", err)
	}
	d.impl = impl
	d.stopLoop = make(chan struct{})
	go d.forwardHealth(impl, d.stopLoop)
	return nil
}

func (d *deviceManager) forwardHealth(impl *devicemanager.ManagerImpl, stop chan struct{}) {
	for {
		select {
		case u := <-impl.Updates():
			for _, uid := range u.PodUIDs {
				d.healthChanged(types.UID(uid))
			}
		case <-stop:
			return
		}
	}
}

// restart simulates a kubelet restart: the device manager stops (its
// plugins' streams end, kubelet.sock goes away) and a new one starts from
// the checkpoint, deleting the plugins' sockets, so every plugin has to
// notice and register again.
func (d *deviceManager) restart() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.stopLocked(); err != nil {
		return err
	}
	return d.startLocked()
}

func (d *deviceManager) stop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stopLocked()
}

func (d *deviceManager) stopLocked() error {
	if d.impl == nil {
		return nil
	}
	close(d.stopLoop)
	err := d.impl.Stop(klog.Background())
	d.impl = nil
	return err
}

func (d *deviceManager) current() (*devicemanager.ManagerImpl, error) {
	if d.impl == nil {
		return nil, fmt.Errorf("the device manager is not running")
	}
	return d.impl, nil
}

// watcherHandler is the device manager's handler for device plugins that
// register through the plugin watcher (plugins_registry) instead of
// kubelet.sock; nil while none runs.
func (d *deviceManager) watcherHandler() cache.PluginHandler {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.impl == nil {
		return nil
	}
	return d.impl.GetWatcherHandler()
}

// admit runs the kubelet's admission-time allocation: Allocate for every
// init container, then every container (the order the device manager
// expects), which calls the plugins' GetPreferredAllocation and Allocate.
// The pod must already be among the active pods.
func (d *deviceManager) admit(pod *v1.Pod) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	impl, err := d.current()
	if err != nil {
		return err
	}
	for _, list := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if err := impl.Allocate(pod, &list[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// runOptions is what the kubelet hands the container runtime for one
// container: the plugins' env, mounts, device nodes, annotations and CDI
// devices.
func (d *deviceManager) runOptions(ctx context.Context, pod *v1.Pod, c *v1.Container) (*devicemanager.DeviceRunContainerOptions, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	impl, err := d.current()
	if err != nil {
		return nil, err
	}
	opts, err := impl.GetDeviceRunContainerOptions(ctx, pod, c)
	if opts == nil && err == nil {
		opts = &devicemanager.DeviceRunContainerOptions{} // a container holding no devices
	}
	return opts, err
}

// capacity is the device plugins' part of the Node status: capacity counts
// healthy and unhealthy devices, allocatable only healthy ones; removed
// lists resources whose plugin has been gone for the grace period.
func (d *deviceManager) capacity() (capacity, allocatable v1.ResourceList, removed []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.impl == nil {
		return nil, nil, nil
	}
	return d.impl.GetCapacity()
}

// devicesOf returns the device ids a container holds, by resource, sorted.
func (d *deviceManager) devicesOf(podUID types.UID, container string) map[string][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string][]string{}
	if d.impl == nil {
		return out
	}
	for resource, devs := range d.impl.GetDevices(string(podUID), container) {
		ids := make([]string, 0, len(devs))
		for id := range devs {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		out[resource] = ids
	}
	return out
}

// The PodResources server's DevicesProvider, over whichever device manager
// currently runs.

func (d *deviceManager) UpdateAllocatedDevices() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.impl != nil {
		d.impl.UpdateAllocatedDevices()
	}
}

func (d *deviceManager) GetDevices(podUID, containerName string) []*podresourcesapi.ContainerDevices {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.impl == nil {
		return nil
	}
	return toContainerDevices(d.impl.GetDevices(podUID, containerName))
}

func (d *deviceManager) GetAllocatableDevices() []*podresourcesapi.ContainerDevices {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.impl == nil {
		return nil
	}
	return toContainerDevices(d.impl.GetAllocatableDevices())
}

// toContainerDevices lists one entry per device and NUMA node, the shape the
// kubelet's PodResources API answers with.
func toContainerDevices(devs devicemanager.ResourceDeviceInstances) []*podresourcesapi.ContainerDevices {
	var out []*podresourcesapi.ContainerDevices
	resources := make([]string, 0, len(devs))
	for r := range devs {
		resources = append(resources, r)
	}
	sort.Strings(resources)
	for _, resource := range resources {
		ids := make([]string, 0, len(devs[resource]))
		for id := range devs[resource] {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			nodes := devs[resource][id].GetTopology().GetNodes()
			if len(nodes) == 0 {
				out = append(out, &podresourcesapi.ContainerDevices{ResourceName: resource, DeviceIds: []string{id}})
				continue
			}
			for _, n := range nodes {
				out = append(out, &podresourcesapi.ContainerDevices{
					ResourceName: resource, DeviceIds: []string{id},
					Topology: &podresourcesapi.TopologyInfo{Nodes: []*podresourcesapi.NUMANode{{ID: n.GetID()}}},
				})
			}
		}
	}
	return out
}

// updateResourceHealth fills each container status's allocatedResourcesStatus
// with the health of the devices it holds, as the kubelet does.
func (d *deviceManager) updateResourceHealth(pod *v1.Pod, status *v1.PodStatus) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.impl == nil {
		return
	}
	d.impl.UpdateAllocatedResourcesStatus(pod, status)
}
