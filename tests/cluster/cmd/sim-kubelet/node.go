package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/component-base/version"
	"k8s.io/component-helpers/apimachinery/lease"
	nodeutil "k8s.io/component-helpers/node/util"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

const (
	// The kubelet's defaults: renew the Lease every 10 s for 40 s, and
	// send an unchanged status at least every 5 minutes.
	leaseDurationSeconds     = 40
	leaseRenewInterval       = 10 * time.Second
	nodeStatusReportInterval = 5 * time.Minute
)

// nodeStatus registers the Node, keeps it Ready and reports its capacity:
// pods, cpu and memory from flags, device plugin resources from the device
// manager.
type nodeStatus struct {
	o        *options
	client   kubernetes.Interface
	devices  *deviceManager
	httpPort int32

	lastSentAt time.Time
}

func (n *nodeStatus) baseCapacity() v1.ResourceList {
	return v1.ResourceList{
		v1.ResourcePods:             *resource.NewQuantity(n.o.maxPods, resource.DecimalSI),
		v1.ResourceCPU:              n.o.cpu,
		v1.ResourceMemory:           n.o.memory,
		v1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
}

// register creates the Node, or adopts an existing one of the same name (a
// restarted node), as the kubelet does.
func (n *nodeStatus) register(ctx context.Context) (*v1.Node, error) {
	labels := map[string]string{
		v1.LabelHostname:   n.o.nodeName,
		v1.LabelOSStable:   runtime.GOOS,
		v1.LabelArchStable: runtime.GOARCH,
	}
	for k, v := range n.o.labels {
		labels[k] = v
	}
	node := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   n.o.nodeName,
			Labels: labels,
			Annotations: map[string]string{
				"node.alpha.kubernetes.io/ttl":                           "0",
				"volumes.kubernetes.io/controller-managed-attach-detach": "true",
			},
		},
	}
	devCapacity, devAllocatable, _ := n.devices.capacity()
	node.Status = n.desiredStatus(nil, devCapacity, devAllocatable)
	var created *v1.Node
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		created, err = n.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			created, err = n.adopt(ctx, labels)
		}
		if err != nil {
			klog.ErrorS(err, "Unable to register node with API server", "node", n.o.nodeName)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("registering node %s: %w", n.o.nodeName, err)
	}
	klog.InfoS("Successfully registered node", "node", n.o.nodeName)
	return created, nil
}

func (n *nodeStatus) adopt(ctx context.Context, labels map[string]string) (*v1.Node, error) {
	existing, err := n.client.CoreV1().Nodes().Get(ctx, n.o.nodeName, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	updated := existing.DeepCopy()
	if updated.Labels == nil {
		updated.Labels = map[string]string{}
	}
	for k, v := range labels {
		updated.Labels[k] = v
	}
	if !apiequality.Semantic.DeepEqual(existing.Labels, updated.Labels) {
		if updated, err = n.client.CoreV1().Nodes().Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
			return nil, err
		}
	}
	return updated, nil
}

// desiredStatus is the status this node should report, with the device
// plugins' resources. prev supplies the transition times of conditions that
// did not change.
func (n *nodeStatus) desiredStatus(prev *v1.NodeStatus, devCapacity, devAllocatable v1.ResourceList) v1.NodeStatus {
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	capacity, allocatable := n.baseCapacity(), n.baseCapacity()
	for k, v := range devCapacity {
		capacity[k] = v
	}
	for k, v := range devAllocatable {
		allocatable[k] = v
	}
	conditions := []v1.NodeCondition{
		{Type: v1.NodeMemoryPressure, Status: v1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: v1.NodeDiskPressure, Status: v1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: v1.NodePIDPressure, Status: v1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
		{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady", Message: "sim-kubelet is posting ready status"},
	}
	for i := range conditions {
		c := &conditions[i]
		c.LastHeartbeatTime, c.LastTransitionTime = now, now
		if prev != nil {
			for _, p := range prev.Conditions {
				if p.Type == c.Type && p.Status == c.Status {
					c.LastTransitionTime = p.LastTransitionTime
				}
			}
		}
	}
	return v1.NodeStatus{
		Capacity:        capacity,
		Allocatable:     allocatable,
		Conditions:      conditions,
		Addresses:       nodeAddresses(n.o.nodeName),
		DaemonEndpoints: v1.NodeDaemonEndpoints{KubeletEndpoint: v1.DaemonEndpoint{Port: n.httpPort}},
		NodeInfo: v1.NodeSystemInfo{
			MachineID:               "sim-" + n.o.nodeName,
			SystemUUID:              "sim-" + n.o.nodeName,
			BootID:                  "sim-" + n.o.nodeName,
			KernelVersion:           kernelVersion(),
			OSImage:                 "sim-kubelet (simulated node)",
			ContainerRuntimeVersion: "sim://" + version.Get().GitVersion,
			KubeletVersion:          version.Get().GitVersion,
			OperatingSystem:         runtime.GOOS,
			Architecture:            runtime.GOARCH,
		},
	}
}

// syncStatus patches the Node's status when capacity or conditions changed,
// or when the last report is older than the report interval.
func (n *nodeStatus) syncStatus(ctx context.Context) error {
	node, err := n.client.CoreV1().Nodes().Get(ctx, n.o.nodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	// Asked once per sync: the device manager reports a removed resource
	// only once.
	devCapacity, devAllocatable, removed := n.devices.capacity()
	updated := node.DeepCopy()
	updated.Status = n.desiredStatus(&node.Status, devCapacity, devAllocatable)
	// Extended resources that are neither the device manager's nor removed
	// by it (someone patched them in) stay, as with the kubelet.
	for _, pair := range [][2]v1.ResourceList{
		{node.Status.Capacity, updated.Status.Capacity}, {node.Status.Allocatable, updated.Status.Allocatable},
	} {
		for k, v := range pair[0] {
			if _, ok := pair[1][k]; !ok && isExtended(k) && !slices.Contains(removed, string(k)) {
				pair[1][k] = v
			}
		}
	}
	if sameStatus(&node.Status, &updated.Status) && time.Since(n.lastSentAt) < nodeStatusReportInterval {
		return nil
	}
	if _, _, err := nodeutil.PatchNodeStatus(n.client.CoreV1(), types.NodeName(n.o.nodeName), node, updated); err != nil {
		return err
	}
	if !sameStatus(&node.Status, &updated.Status) {
		klog.InfoS("Node status updated", "node", n.o.nodeName, "capacity", describeResources(updated.Status.Capacity),
			"allocatable", describeResources(updated.Status.Allocatable))
	}
	n.lastSentAt = time.Now()
	return nil
}

// isExtended tells extended resources (domain-prefixed, not kubernetes.io)
// apart from the node's own.
func isExtended(r v1.ResourceName) bool {
	s := string(r)
	return strings.Contains(s, "/") && !strings.HasPrefix(s, "kubernetes.io/") && !strings.HasPrefix(s, "requests.")
}

// sameStatus compares what matters of two statuses: heartbeat times are
// left out.
func sameStatus(a, b *v1.NodeStatus) bool {
	strip := func(s *v1.NodeStatus) v1.NodeStatus {
		c := *s.DeepCopy()
		for i := range c.Conditions {
			c.Conditions[i].LastHeartbeatTime = metav1.Time{}
			c.Conditions[i].LastTransitionTime = metav1.Time{}
		}
		c.Images, c.VolumesInUse, c.VolumesAttached = nil, nil, nil
		c.Config, c.Features, c.RuntimeHandlers = nil, nil, nil
		return c
	}
	return apiequality.Semantic.DeepEqual(strip(a), strip(b))
}

func kernelVersion() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "unknown"
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}

func describeResources(l v1.ResourceList) string {
	var parts []string
	for k, v := range l {
		if isExtended(k) {
			parts = append(parts, fmt.Sprintf("%s=%s", k, v.String()))
		}
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "(no extended resources)"
	}
	return strings.Join(parts, ",")
}

// markNotReady is the last status a stopping node reports.
func (n *nodeStatus) markNotReady(ctx context.Context) error {
	node, err := n.client.CoreV1().Nodes().Get(ctx, n.o.nodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	updated := node.DeepCopy()
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	for i := range updated.Status.Conditions {
		c := &updated.Status.Conditions[i]
		if c.Type == v1.NodeReady {
			c.Status, c.Reason, c.Message = v1.ConditionFalse, "KubeletNotReady", "sim-kubelet stopped"
			c.LastHeartbeatTime, c.LastTransitionTime = now, now
		}
	}
	_, _, err = nodeutil.PatchNodeStatus(n.client.CoreV1(), types.NodeName(n.o.nodeName), node, updated)
	return err
}

// newLeaseController renews kube-node-lease/<node>, the heartbeat the node
// lifecycle controller watches, with the kubelet's own lease controller.
func newLeaseController(client kubernetes.Interface, nodeName string, nodeUID func() types.UID) lease.Controller {
	return lease.NewController(clock.RealClock{}, client, nodeName, leaseDurationSeconds, nil, leaseRenewInterval,
		nodeName, v1.NamespaceNodeLease, func(l *coordinationv1.Lease) error {
			// Owned by the Node, so the garbage collector removes it with it.
			if uid := nodeUID(); uid != "" && len(l.OwnerReferences) == 0 {
				l.OwnerReferences = []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "Node", Name: nodeName, UID: uid,
				}}
			}
			return nil
		})
}
