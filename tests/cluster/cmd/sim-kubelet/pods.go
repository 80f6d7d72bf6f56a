package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/kubernetes/pkg/kubelet/cm/containermap"
)

// podManager keeps one podWorker per pod bound to this node and answers
// the device manager's and the PodResources server's questions about them.
type podManager struct {
	k         *kubelet
	ctx       context.Context
	hasSynced func() bool // the pod informer's

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	wg      sync.WaitGroup
}

func newPodManager(ctx context.Context, k *kubelet) *podManager {
	return &podManager{k: k, ctx: ctx, workers: map[types.UID]*podWorker{}, hasSynced: func() bool { return false }}
}

// upsert hands the latest version of a pod to its worker, starting one for
// a pod seen for the first time.
func (m *podManager) upsert(pod *v1.Pod) {
	m.mu.Lock()
	w, ok := m.workers[pod.UID]
	if !ok {
		w = newPodWorker(m.k, pod)
		m.workers[pod.UID] = w
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			w.run(m.ctx)
			m.mu.Lock()
			delete(m.workers, pod.UID)
			m.mu.Unlock()
		}()
	}
	m.mu.Unlock()
	w.setPod(pod)
}

// remove tells a pod's worker that the pod is gone from the API server.
func (m *podManager) remove(pod *v1.Pod) {
	m.mu.Lock()
	w := m.workers[pod.UID]
	m.mu.Unlock()
	if w != nil {
		w.setGone()
	}
}

// wakePod makes a pod's worker sync now (its devices changed health).
func (m *podManager) wakePod(uid types.UID) {
	m.mu.Lock()
	w := m.workers[uid]
	m.mu.Unlock()
	if w != nil {
		w.wake()
	}
}

func (m *podManager) synced() bool { return m.hasSynced() }

// wait returns once every worker has ended (after the context is done).
func (m *podManager) wait() { m.wg.Wait() }

func (m *podManager) snapshot() []*podWorker {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*podWorker, 0, len(m.workers))
	for _, w := range m.workers {
		out = append(out, w)
	}
	return out
}

// activePods are the admitted pods that have not terminated: the device
// manager keeps their devices allocated and frees everyone else's.
func (m *podManager) activePods() []*v1.Pod {
	var out []*v1.Pod
	for _, w := range m.snapshot() {
		if pod, active := w.activePod(); active {
			out = append(out, pod)
		}
	}
	return out
}

// runningContainers lists the containers of active pods, all reported
// running, so that a restarted device manager treats them as a real one
// treats containers that survived a kubelet restart.
func (m *podManager) runningContainers() (containermap.ContainerMap, sets.Set[string]) {
	cm, running := containermap.NewContainerMap(), sets.New[string]()
	for _, w := range m.snapshot() {
		pod, active := w.activePod()
		if !active {
			continue
		}
		for name, id := range w.containerIDs() {
			cm.Add(string(pod.UID), name, id)
			running.Insert(id)
		}
	}
	return cm, running
}

// The PodResources server's PodsProvider.

func (m *podManager) GetActivePods() []*v1.Pod { return m.activePods() }

func (m *podManager) GetPods() []*v1.Pod {
	var out []*v1.Pod
	for _, w := range m.snapshot() {
		out = append(out, w.currentPod())
	}
	return out
}

func (m *podManager) GetPodByName(namespace, name string) (*v1.Pod, bool) {
	for _, w := range m.snapshot() {
		if p := w.currentPod(); p.Namespace == namespace && p.Name == name {
			return p, true
		}
	}
	return nil, false
}

// allocatePorts gives every declared container port of a pod a free
// loopback port: all pods share the host's network, so the pair
// 127.0.0.1:<port> stands in for <pod IP>:<containerPort>.
func allocatePorts(pod *v1.Pod) (map[int32]int32, error) {
	ports := map[int32]int32{}
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for _, list := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			for _, p := range c.Ports {
				if _, ok := ports[p.ContainerPort]; ok {
					continue
				}
				l, err := net.Listen("tcp", loopback+":0")
				if err != nil {
					return nil, err
				}
				listeners = append(listeners, l)
				ports[p.ContainerPort] = int32(l.Addr().(*net.TCPAddr).Port)
			}
		}
	}
	return ports, nil
}

// gracePeriod is how long a stopping pod's containers get between SIGTERM
// and SIGKILL.
func gracePeriod(pod *v1.Pod) time.Duration {
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// runsAsProcesses: DaemonSet pods run for real, and so does a pod every
// container of which has an image given its own executables
// (imageBinDir/by-image/<escaped image>/, e.g. busybox_1.36/sh for
// kubectl devicepool test's pods); every other pod is only admitted and
// reported running.
func runsAsProcesses(pod *v1.Pod, imageBinDir string) bool {
	for _, ref := range pod.OwnerReferences {
		if ref.Controller != nil && *ref.Controller && ref.Kind == "DaemonSet" {
			return true
		}
	}
	if imageBinDir == "" || len(pod.Spec.Containers) == 0 {
		return false
	}
	for _, list := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			dir := escapeImage(c.Image)
			if dir == "" || dir == "." || dir == ".." {
				return false
			}
			if st, err := os.Stat(filepath.Join(imageBinDir, byImageDir, dir)); err != nil || !st.IsDir() {
				return false
			}
		}
	}
	return true
}

// podIPAllocator hands out pod IPs from 198.18.0.0/15, the range reserved
// for network benchmarks (RFC 2544): valid in Endpoints and EndpointSlices,
// never routed anywhere, so nobody mistakes it for a reachable address.
// Each node takes one /24 of it, chosen by a hash of its name; addresses are
// unique per node, and across nodes unless two names hash alike.
type podIPAllocator struct {
	mu     sync.Mutex
	subnet uint32 // 0..511
	last   uint32
}

func newPodIPAllocator(nodeName string) *podIPAllocator {
	h := fnv.New32a()
	h.Write([]byte(nodeName))
	return &podIPAllocator{subnet: h.Sum32() % 512}
}

func (a *podIPAllocator) next() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last = a.last%254 + 1
	return fmt.Sprintf("198.%d.%d.%d", 18+a.subnet/256, a.subnet%256, a.last)
}
