package main

import (
	"context"
	"fmt"
	"sort"
	"sync"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/component-base/metrics"
	"k8s.io/klog/v2"
	pluginwatcherapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
	podresourcesapi "k8s.io/kubelet/pkg/apis/podresources/v1"
	kubefeatures "k8s.io/kubernetes/pkg/features"
	"k8s.io/kubernetes/pkg/kubelet/cm/dra"
	draplugin "k8s.io/kubernetes/pkg/kubelet/cm/dra/plugin"
	kubeletmetrics "k8s.io/kubernetes/pkg/kubelet/metrics"
	"k8s.io/kubernetes/pkg/kubelet/pluginmanager"
	"k8s.io/kubernetes/pkg/kubelet/pluginmanager/cache"
)

// pluginsRegistryDir is where kubelet plugins (DRA drivers, and device
// plugins that use the plugin watcher) put their registration sockets, seen
// from inside the node.
const pluginsRegistryDir = kubeletDir + "/plugins_registry"

// draManager owns the kubelet's Dynamic Resource Allocation manager
// (pkg/kubelet/cm/dra) and its plugin manager (pkg/kubelet/pluginmanager,
// watching plugins_registry) across simulated kubelet restarts, wired as
// pkg/kubelet/kubelet.go and cm/container_manager_linux.go wire them: the
// DRA manager's state lives in /var/lib/kubelet (dra_manager_state,
// dra_health_state), its handler serves plugin type "DRAPlugin", and the
// device manager's handler serves "DevicePlugin". It is safe for
// concurrent use.
type draManager struct {
	client   kubernetes.Interface // node credentials: ResourceClaims, ResourceSlice wiping
	nodeName string
	pods     podSource
	events   record.EventRecorder
	// healthChanged receives the UIDs of pods whose claimed devices
	// changed health (the DRA health stream, ResourceHealthStatus).
	healthChanged func(types.UID)

	mu      sync.RWMutex
	impl    *dra.Manager
	stopAll func() // stops the plugin manager, the DRA manager and its plugin connections
}

// start creates a DRA manager from its checkpoint and a plugin manager, as
// the kubelet does at startup; devices is the device manager's handler for
// device plugins that register through plugins_registry. The new
// DRA manager deletes the node's ResourceSlices at once (no driver is
// registered yet); drivers that still run are found again by their
// registration sockets and registered anew.
func (d *draManager) start(devices cache.PluginHandler) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	logger := klog.Background().WithName("dra")
	impl, err := dra.NewManager(logger, d.client, kubeletDir)
	if err != nil {
		return fmt.Errorf("creating the DRA manager: %w", err)
	}
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), logger))
	ready := sourcesReady{d.pods.synced}
	getNode := func(ctx context.Context) (*v1.Node, error) {
		return d.client.CoreV1().Nodes().Get(ctx, d.nodeName, metav1.GetOptions{})
	}
	if err := impl.Start(ctx, d.pods.activePods, getNode, ready); err != nil {
		cancel()
		return fmt.Errorf("starting the DRA manager: %w", err)
	}
	plugins := pluginmanager.NewPluginManager(pluginsRegistryDir, d.events)
	plugins.AddHandler(pluginwatcherapi.DRAPlugin, impl.GetWatcherHandler())
	if devices != nil {
		plugins.AddHandler(pluginwatcherapi.DevicePlugin, devices)
	}
	stopPlugins := make(chan struct{})
	go plugins.Run(ctx, ready, stopPlugins)
	go func() {
		for {
			select {
			case u := <-impl.Updates():
				for _, uid := range u.PodUIDs {
					d.healthChanged(types.UID(uid))
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	d.impl = impl
	d.stopAll = func() {
		close(stopPlugins)
		// The DRA manager has no Stop of its own: its context ends its
		// reconcile loop, and its plugin handler (a DRAPluginManager) closes
		// the drivers' connections and pending ResourceSlice wipes.
		if pm, ok := impl.GetWatcherHandler().(*draplugin.DRAPluginManager); ok {
			pm.Stop()
		}
		cancel()
	}
	return nil
}

// stop ends the plugin manager and the DRA manager; the checkpoint stays.
func (d *draManager) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopAll != nil {
		d.stopAll()
	}
	d.impl, d.stopAll = nil, nil
}

func (d *draManager) current() (*dra.Manager, error) {
	if d.impl == nil {
		return nil, fmt.Errorf("the DRA manager is not running")
	}
	return d.impl, nil
}

// needsPrepare tells pods that claim nothing apart: the kubelet calls the
// DRA manager for every pod, but for one without claims that does nothing.
func needsPrepare(pod *v1.Pod) bool {
	return len(pod.Spec.ResourceClaims) > 0 ||
		(utilfeature.DefaultFeatureGate.Enabled(kubefeatures.DRAExtendedResource) && pod.Status.ExtendedResourceClaimStatus != nil)
}

// prepare is the kubelet's PrepareDynamicResources before a pod's sandbox
// is created: NodePrepareResources for each claim of the pod (those of
// spec.resourceClaims and the scheduler's claim for extended resources)
// not prepared yet, through the driver's dra.sock.
func (d *draManager) prepare(ctx context.Context, pod *v1.Pod) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	impl, err := d.current()
	if err != nil {
		return err
	}
	return impl.PrepareResources(ctx, pod)
}

// unprepare is the kubelet's UnprepareDynamicResources once a pod's
// containers have stopped: NodeUnprepareResources for each of its claims
// no other pod on the node uses. It does nothing for a pod the DRA manager
// holds nothing for (as the kubelet's PodMightNeedToUnprepareResources).
func (d *draManager) unprepare(ctx context.Context, pod *v1.Pod) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	impl, err := d.current()
	if err != nil {
		return err
	}
	if !impl.PodMightNeedToUnprepareResources(pod.UID) {
		return nil
	}
	return impl.UnprepareResources(ctx, pod)
}

// cdiDevices are the CDI device ids the DRA manager hands the runtime for
// one container (GetResources): those of the claims it names and of the
// extended resources it requests that DRA serves.
func (d *draManager) cdiDevices(pod *v1.Pod, c *v1.Container) ([]string, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	impl, err := d.current()
	if err != nil {
		return nil, err
	}
	info, err := impl.GetResources(pod, c)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(info.CDIDevices))
	for _, dev := range info.CDIDevices {
		ids = append(ids, dev.Name)
	}
	return ids, nil
}

// GetDynamicResources is the PodResources server's DynamicResourcesProvider:
// the claims of one container with their devices, built from the DRA
// manager's claim infos as cm/container_manager_linux.go builds it.
func (d *draManager) GetDynamicResources(pod *v1.Pod, c *v1.Container) []*podresourcesapi.DynamicResource {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := []*podresourcesapi.DynamicResource{}
	if d.impl == nil {
		return out
	}
	infos, err := d.impl.GetContainerClaimInfos(pod, c)
	if err != nil {
		klog.ErrorS(err, "Unable to get container claim info state", "pod", klog.KObj(pod), "container", c.Name)
		return out
	}
	for _, info := range infos {
		var resources []*podresourcesapi.ClaimResource
		drivers := make([]string, 0, len(info.DriverState))
		for driver := range info.DriverState {
			drivers = append(drivers, driver)
		}
		sort.Strings(drivers)
		for _, driver := range drivers {
			for _, dev := range info.DriverState[driver].Devices {
				var cdi []*podresourcesapi.CDIDevice
				for _, id := range dev.CDIDeviceIDs {
					cdi = append(cdi, &podresourcesapi.CDIDevice{Name: id})
				}
				resources = append(resources, &podresourcesapi.ClaimResource{
					CdiDevices: cdi, DriverName: driver, PoolName: dev.PoolName, DeviceName: dev.DeviceName,
					ShareId: (*string)(dev.ShareID),
				})
			}
		}
		out = append(out, &podresourcesapi.DynamicResource{
			ClaimName: info.ClaimName, ClaimNamespace: info.Namespace, ClaimResources: resources,
		})
	}
	return out
}

// claimsOf lists, for the allocation record, the devices a container got
// through its claims: "<claim>: <driver>/<pool>/<device>".
func (d *draManager) claimsOf(pod *v1.Pod, c *v1.Container) []string {
	var out []string
	for _, r := range d.GetDynamicResources(pod, c) {
		for _, cr := range r.ClaimResources {
			out = append(out, fmt.Sprintf("%s: %s/%s/%s", r.ClaimName, cr.DriverName, cr.PoolName, cr.DeviceName))
		}
	}
	sort.Strings(out)
	return out
}

// updateResourceHealth adds the health of each container's claimed devices
// to its allocatedResourcesStatus, as the kubelet does with
// ResourceHealthStatus.
func (d *draManager) updateResourceHealth(pod *v1.Pod, status *v1.PodStatus) {
	if !utilfeature.DefaultFeatureGate.Enabled(kubefeatures.ResourceHealthStatus) {
		return
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.impl == nil {
		return
	}
	d.impl.UpdateAllocatedResourcesStatus(pod, status)
}

// claimMetrics serves the kubelet's dra_resource_claims_in_use gauge from
// whichever DRA manager currently runs (a collector can be registered only
// once, and a restart brings a new manager).
type claimMetrics struct {
	metrics.BaseStableCollector
	d *draManager
}

func (c *claimMetrics) DescribeWithStability(ch chan<- *metrics.Desc) {
	ch <- kubeletmetrics.DRAResourceClaimsInUseDesc
}

func (c *claimMetrics) CollectWithStability(ch chan<- metrics.Metric) {
	c.d.mu.RLock()
	impl := c.d.impl
	c.d.mu.RUnlock()
	if impl != nil {
		impl.NewMetricsCollector().CollectWithStability(ch)
	}
}
