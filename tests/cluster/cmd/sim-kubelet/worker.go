package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/kubelet/cm/devicemanager"
	kubecontainer "k8s.io/kubernetes/pkg/kubelet/container"
)

// resyncPeriod bounds how long a worker goes without looking at its pod:
// crash back-offs and token refreshes are due on this clock.
const resyncPeriod = time.Second

// podWorker drives one pod through its life on this node, as the kubelet's
// pod worker does: admission (the device manager's Allocate), running it,
// reporting its status, and on deletion stopping it and confirming the
// deletion.
type podWorker struct {
	k      *kubelet
	uid    types.UID
	wakeCh chan struct{}

	mu     sync.Mutex
	pod    *v1.Pod
	gone   bool // deleted from the API server
	active bool // admitted and not terminated: holds its devices
	ids    map[string]string
	procs  []*container // every container, once admitted, of a pod run as processes

	// Owned by the run goroutine.
	admitted, finished, killed, deleteSent bool
	admittedAt                             time.Time
	podIP                                  string
	processes                              bool
	volumes                                *podVolumes
	mountErr                               string
	hostPorts                              map[int32]int32
	initContainers, containers             []*container
	recorded                               bool
	lastRecord                             string
	lastPatched                            *v1.PodStatus
	announced                              bool
	// Dynamic resources: prepared before any container starts, unprepared
	// once all have stopped; prepareErr is the last failure reported.
	prepared, unprepared     bool
	prepareErr, unprepareErr string
	// For pods that are only admitted: when each container counts as
	// started (its DRA and CDI devices resolved), and the last reason one
	// could not be.
	startedAt  map[string]time.Time
	createErrs map[string]string
}

func newPodWorker(k *kubelet, pod *v1.Pod) *podWorker {
	return &podWorker{k: k, uid: pod.UID, wakeCh: make(chan struct{}, 1), pod: pod, ids: map[string]string{}}
}

func (w *podWorker) wake() {
	select {
	case w.wakeCh <- struct{}{}:
	default:
	}
}

func (w *podWorker) setPod(pod *v1.Pod) {
	w.mu.Lock()
	w.pod = pod
	w.mu.Unlock()
	w.wake()
}

func (w *podWorker) setGone() {
	w.mu.Lock()
	w.gone = true
	w.mu.Unlock()
	w.wake()
}

func (w *podWorker) currentPod() *v1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod
}

func (w *podWorker) activePod() (*v1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod, w.active
}

func (w *podWorker) setActive(active bool) {
	w.mu.Lock()
	w.active = active
	w.mu.Unlock()
}

func (w *podWorker) containerIDs() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]string, len(w.ids))
	for k, v := range w.ids {
		out[k] = v
	}
	return out
}

// processContainer is the container of that name of a pod run as
// processes; nil when there is none (the kubelet API asks from other
// goroutines).
func (w *podWorker) processContainer(name string) *container {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.procs {
		if c.spec.Name == name {
			return c
		}
	}
	return nil
}

func (w *podWorker) processContainers() []*container {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.procs
}

func (w *podWorker) setContainerID(name, id string) {
	w.mu.Lock()
	w.ids[name] = id
	w.mu.Unlock()
}

func (w *podWorker) run(ctx context.Context) {
	tick := time.NewTicker(resyncPeriod)
	defer tick.Stop()
	for {
		if w.sync(ctx) {
			return
		}
		select {
		case <-w.wakeCh:
		case <-tick.C:
		case <-ctx.Done():
			// The node is shutting down: its containers stop, the pod
			// objects stay (a kubelet that stops does not delete pods).
			w.stopContainers(min(gracePeriod(w.currentPod()), 10*time.Second))
			return
		}
	}
}

// sync moves the pod one step; it returns true once the worker is done.
func (w *podWorker) sync(ctx context.Context) bool {
	w.mu.Lock()
	pod, gone := w.pod, w.gone
	w.mu.Unlock()
	switch {
	case gone:
		// Force-deleted, or our own final delete went through.
		w.stopContainers(2 * time.Second)
		w.setActive(false)
		if !w.unprepared {
			// Best effort: otherwise the DRA manager's reconcile loop
			// unprepares the claims of pods that are no longer active.
			uctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := w.k.dra.unprepare(uctx, pod); err != nil {
				klog.ErrorS(err, "Unpreparing dynamic resources of a deleted pod", "pod", klog.KObj(pod))
			}
			cancel()
		}
		if err := os.RemoveAll(w.k.volumes.podDir(pod)); err != nil {
			klog.ErrorS(err, "Removing pod directory", "pod", klog.KObj(pod))
		}
		return true
	case pod.DeletionTimestamp != nil:
		w.terminate(ctx, pod)
		return false
	case w.finished:
		return false
	}
	if !w.admitted {
		if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
			w.finished = true // terminal before this node (re)started: nothing to run
			return false
		}
		if !w.admit(ctx, pod) {
			return false
		}
	}
	if !w.prepared && !w.prepareResources(ctx, pod) {
		// As with the kubelet, no sandbox and no container before the
		// pod's claims are prepared: it stays Pending, containers waiting.
		w.patchStatus(ctx, pod, w.processStatus(pod))
		return false
	}
	if w.processes {
		w.syncProcesses(ctx, pod)
	} else {
		w.syncAdmittedOnly(ctx, pod)
	}
	return false
}

// admit runs the device manager's admission. A pod it rejects fails, as
// with the kubelet (UnexpectedAdmissionError), and is never started.
func (w *podWorker) admit(ctx context.Context, pod *v1.Pod) bool {
	// Active before Allocate: the device manager frees the devices of pods
	// that are not, including the earlier containers of this one.
	w.setActive(true)
	// A pod already running here before this process started (sim-kubelet
	// restarted): its devices are in the device manager's checkpoint, and
	// like a kubelet that finds its containers running, it does not
	// allocate again.
	adopted := pod.Status.Phase == v1.PodRunning && pod.Status.StartTime != nil
	if adopted {
		klog.InfoS("Adopting a pod that ran on this node before", "pod", klog.KObj(pod))
	} else if err := w.k.devices.admit(pod); err != nil {
		w.setActive(false)
		w.finished = true
		msg := fmt.Sprintf("Allocate failed due to %v, which is unexpected", err)
		klog.InfoS("Pod admission failed", "pod", klog.KObj(pod), "err", err)
		w.k.events.Event(pod, v1.EventTypeWarning, "UnexpectedAdmissionError", msg)
		status := pod.Status.DeepCopy()
		status.Phase, status.Reason, status.Message = v1.PodFailed, "UnexpectedAdmissionError", msg
		w.patchStatus(ctx, pod, *status)
		return false
	}
	w.admitted, w.admittedAt = true, time.Now()
	if adopted {
		// Its claims were prepared before (the DRA manager's checkpoint
		// has them); a kubelet that finds a pod's sandbox running does not
		// prepare again.
		w.admittedAt, w.prepared = pod.Status.StartTime.Time, true
	}
	// A pod this node ran before it restarted keeps its address.
	if w.podIP = pod.Status.PodIP; w.podIP == "" {
		w.podIP = w.k.podIPs.next()
	}
	w.processes = runsAsProcesses(pod, w.k.o.imageBinDir)
	for _, c := range pod.Spec.InitContainers {
		w.initContainers = append(w.initContainers, &container{spec: c, init: true, wake: w.wake})
	}
	for _, c := range pod.Spec.Containers {
		w.containers = append(w.containers, &container{spec: c, wake: w.wake})
	}
	if w.processes {
		w.mu.Lock()
		w.procs = w.allContainers()
		w.mu.Unlock()
	}
	klog.InfoS("Pod admitted", "pod", klog.KObj(pod), "runsProcesses", w.processes)
	return true
}

// prepareResources is the kubelet's PrepareDynamicResources before the
// pod's sandbox: on failure a FailedPrepareDynamicResources event, and
// another attempt at the next sync.
func (w *podWorker) prepareResources(ctx context.Context, pod *v1.Pod) bool {
	if !needsPrepare(pod) {
		w.prepared = true
		return true
	}
	if err := w.k.dra.prepare(ctx, pod); err != nil {
		msg := "Failed to prepare dynamic resources: " + err.Error()
		if msg != w.prepareErr {
			w.prepareErr = msg
			klog.InfoS("Failed to prepare dynamic resources", "pod", klog.KObj(pod), "err", err)
			w.k.events.Event(pod, v1.EventTypeWarning, "FailedPrepareDynamicResources", msg)
		}
		return false
	}
	w.prepared, w.prepareErr = true, ""
	klog.InfoS("Dynamic resources prepared", "pod", klog.KObj(pod))
	return true
}

// unprepareResources is the kubelet's UnprepareDynamicResources once the
// pod's containers have stopped; false: try again at the next sync.
func (w *podWorker) unprepareResources(ctx context.Context, pod *v1.Pod) bool {
	if w.unprepared {
		return true
	}
	if err := w.k.dra.unprepare(ctx, pod); err != nil {
		if err.Error() != w.unprepareErr {
			w.unprepareErr = err.Error()
			klog.ErrorS(err, "Unpreparing dynamic resources", "pod", klog.KObj(pod))
		}
		return false
	}
	w.unprepared = true
	return true
}

// syncAdmittedOnly reports a pod that is not run: each container counts as
// started (and ready) once the runtime would have created it, i.e. once
// its DRA devices and CDI devices resolve, at once for most; the
// allocation is recorded.
func (w *podWorker) syncAdmittedOnly(ctx context.Context, pod *v1.Pod) {
	if w.startedAt == nil {
		w.startedAt, w.createErrs = map[string]time.Time{}, map[string]string{}
	}
	startedBefore := len(w.startedAt)
	for _, c := range w.allContainers() {
		if _, ok := w.startedAt[c.spec.Name]; ok {
			continue
		}
		reason, err := w.createAdmittedOnly(ctx, pod, &c.spec)
		if err != nil {
			if w.createErrs[c.spec.Name] != err.Error() {
				w.createErrs[c.spec.Name] = err.Error()
				klog.InfoS("Container cannot start", "pod", klog.KObj(pod), "container", c.spec.Name, "reason", reason, "message", err.Error())
				w.k.events.Event(pod, v1.EventTypeWarning, "Failed", "Error: "+err.Error())
			}
			c.setWaiting(reason, err.Error())
			continue
		}
		at := time.Now()
		if startedBefore == 0 && len(w.createErrs) == 0 {
			at = w.admittedAt // the usual case: everything at admission
		}
		w.startedAt[c.spec.Name] = at
	}
	if !w.recorded || len(w.startedAt) != startedBefore {
		w.recordAllocation(ctx, pod, nil)
	}
	status := func(c *container) v1.ContainerStatus {
		at, ok := w.startedAt[c.spec.Name]
		if !ok {
			no := false
			s := v1.ContainerStatus{Name: c.spec.Name, Image: c.spec.Image, ImageID: "sim://" + c.spec.Image, Started: &no}
			c.mu.Lock()
			s.State.Waiting = c.waiting.DeepCopy()
			c.mu.Unlock()
			return s
		}
		started := metav1.NewTime(at.Truncate(time.Second))
		id := fmt.Sprintf("sim://%s-%s-0", shortUID(string(pod.UID)), c.spec.Name)
		w.setContainerID(c.spec.Name, id)
		yes := true
		s := v1.ContainerStatus{Name: c.spec.Name, Image: c.spec.Image, ImageID: "sim://" + c.spec.Image, ContainerID: id, Started: &yes}
		if c.init {
			s.State.Terminated = &v1.ContainerStateTerminated{Reason: "Completed", StartedAt: started, FinishedAt: started, ContainerID: id}
			s.Ready = true
		} else {
			s.State.Running = &v1.ContainerStateRunning{StartedAt: started}
			s.Ready = true
		}
		return s
	}
	var inits, regular []v1.ContainerStatus
	for _, c := range w.initContainers {
		inits = append(inits, status(c))
	}
	for _, c := range w.containers {
		regular = append(regular, status(c))
	}
	phase := v1.PodRunning
	if len(w.startedAt) < len(w.allContainers()) {
		phase = podPhase(pod, inits, regular, false)
	} else if !w.announced {
		w.announced = true
		w.k.events.Event(pod, v1.EventTypeNormal, "Started",
			"Admitted by the device manager and reported running; sim-kubelet runs only DaemonSet pods' processes and those of images in --image-bin-dir/by-image")
	}
	w.patchStatus(ctx, pod, w.buildStatus(pod, inits, regular, phase))
}

// createAdmittedOnly checks what the runtime needs to create a container of
// a pod that is not run: the DRA manager's CDI devices for it and their
// resolution (with the device plugins' CDI devices). It returns the
// kubelet's reason with the error.
func (w *podWorker) createAdmittedOnly(ctx context.Context, pod *v1.Pod, c *v1.Container) (string, error) {
	draIDs, err := w.k.dra.cdiDevices(pod, c)
	if err != nil {
		return "CreateContainerConfigError", err
	}
	opts, err := w.k.devices.runOptions(ctx, pod, c)
	if err != nil {
		return "RunContainerError", err
	}
	if _, err := w.k.cdi.resolve(cdiNames(opts, draIDs), nil); err != nil {
		return "CreateContainerError", err
	}
	return "", nil
}

// syncProcesses runs a DaemonSet pod's containers as processes.
func (w *podWorker) syncProcesses(ctx context.Context, pod *v1.Pod) {
	if w.volumes == nil && !w.setUpPod(ctx, pod) {
		w.patchStatus(ctx, pod, w.processStatus(pod))
		return
	}
	if err := w.volumes.refresh(ctx); err != nil {
		klog.ErrorS(err, "Refreshing volumes", "pod", klog.KObj(pod))
	}
	now := time.Now()
	policy := pod.Spec.RestartPolicy
	initialized := true
	for _, c := range w.initContainers {
		if c.running() {
			initialized = false
			break
		}
		term := c.exitedInstance()
		if term != nil && term.ExitCode == 0 {
			continue
		}
		initialized = false
		if term != nil {
			w.handleExit(pod, c)
			if policy == v1.RestartPolicyNever {
				break
			}
		}
		if c.mayStart(now) {
			w.start(ctx, pod, c)
		}
		break
	}
	if initialized {
		for _, c := range w.containers {
			if c.running() {
				continue
			}
			if term := c.exitedInstance(); term != nil {
				w.handleExit(pod, c)
				if !shouldRestart(policy, term) {
					continue
				}
			}
			if c.mayStart(now) {
				w.start(ctx, pod, c)
			}
		}
	}
	status := w.processStatus(pod)
	if status.Phase == v1.PodSucceeded || status.Phase == v1.PodFailed {
		// Done for good: its devices are free again, and its claims are
		// unprepared before the terminal status is reported (if that
		// fails, the DRA manager's reconcile loop retries: the pod is no
		// longer active).
		w.setActive(false)
		w.finished = true
		w.unprepareResources(ctx, pod)
	}
	w.patchStatus(ctx, pod, status)
}

// setUpPod prepares what every container of the pod shares: volumes,
// loopback ports and the allocation record. false: try again later.
func (w *podWorker) setUpPod(ctx context.Context, pod *v1.Pod) bool {
	vols, err := w.k.volumes.setUp(ctx, pod, w.podIP)
	if err != nil {
		if err.Error() != w.mountErr {
			w.mountErr = err.Error()
			klog.ErrorS(err, "Setting up volumes", "pod", klog.KObj(pod))
			w.k.events.Event(pod, v1.EventTypeWarning, "FailedMount", err.Error())
		}
		for _, c := range w.allContainers() {
			c.setWaiting("ContainerCreating", err.Error())
		}
		return false
	}
	ports, err := allocatePorts(pod)
	if err != nil {
		klog.ErrorS(err, "Allocating loopback ports", "pod", klog.KObj(pod))
		return false
	}
	w.volumes, w.hostPorts = vols, ports
	w.recordAllocation(ctx, pod, ports)
	return true
}

// handleExit reacts once to an instance that exited by itself: the crash
// back-off.
func (w *podWorker) handleExit(pod *v1.Pod, c *container) {
	c.mu.Lock()
	inst := c.inst
	fresh := inst != nil && inst.term != nil && !inst.handled
	if fresh {
		inst.handled = true
	}
	killing := inst != nil && inst.killing
	c.mu.Unlock()
	if !fresh || killing {
		return
	}
	term := inst.term
	klog.InfoS("Container exited", "pod", klog.KObj(pod), "container", c.spec.Name, "exitCode", term.ExitCode, "reason", term.Reason)
	if c.init && term.ExitCode == 0 {
		return
	}
	if shouldRestart(pod.Spec.RestartPolicy, term) {
		c.crashed(w.k.o, pod.Name)
		c.mu.Lock()
		backingOff := c.waiting != nil && c.waiting.Reason == "CrashLoopBackOff"
		c.mu.Unlock()
		if backingOff {
			w.k.events.Event(pod, v1.EventTypeWarning, "BackOff", "Back-off restarting failed container "+c.spec.Name+" in pod "+pod.Name)
		}
	}
}

// start launches a new instance of c, the way the kubelet's runtime manager
// generates a container config: device plugin options, environment,
// command and args with $(VAR) expanded, mounts.
func (w *podWorker) start(ctx context.Context, pod *v1.Pod, c *container) {
	o := w.k.o
	id := c.nextInstanceID(string(pod.UID))
	fail := func(reason, msg string) {
		klog.InfoS("Container cannot start", "pod", klog.KObj(pod), "container", c.spec.Name, "reason", reason, "message", msg)
		w.k.events.Event(pod, v1.EventTypeWarning, "Failed", "Error: "+msg)
		c.setWaiting(reason, msg)
		c.delayStart(o)
	}
	opts, err := w.k.devices.runOptions(ctx, pod, &c.spec)
	if err != nil {
		fail("RunContainerError", err.Error())
		return
	}
	draIDs, err := w.k.dra.cdiDevices(pod, &c.spec)
	if err != nil {
		fail("CreateContainerConfigError", err.Error())
		return
	}
	env, err := containerEnv(ctx, w.k.get, pod, w.podIP, &c.spec, w.k.allocatable(), w.k.svcEnv)
	if err != nil {
		fail("CreateContainerConfigError", err.Error())
		return
	}
	allEnv := append(append([]kubecontainer.EnvVar{}, opts.Envs...), env...)
	command, args := kubecontainer.ExpandContainerCommandAndArgs(&c.spec, allEnv)
	if len(command) == 0 {
		fail("CreateContainerError", "images are not simulated: the container must name its command")
		return
	}
	if o.imageBinDir == "" {
		fail("CreateContainerError", "no --image-bin-dir to find "+command[0]+" in")
		return
	}
	bin, tried := imageBinary(o.imageBinDir, c.spec.Image, command[0], isExecutableFile)
	if bin == "" {
		fail("CreateContainerError", fmt.Sprintf("no executable %s in --image-bin-dir for the command %s of image %s", strings.Join(tried, " or "), command[0], c.spec.Image))
		return
	}
	argv := append(append([]string{command[0]}, command[1:]...), args...)
	argv = append(argv[:1:1], rewriteAddressArgs(argv[1:], w.hostPorts)...)
	procEnv := []kubecontainer.EnvVar{
		{Name: "PATH", Value: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		{Name: "HOSTNAME", Value: pod.Name},
	}
	// The runtime's part: the CDI devices' edits on top of what the
	// kubelet asked for.
	edits, err := w.k.cdi.resolve(cdiNames(opts, draIDs), envList(append(procEnv, allEnv...)))
	if err != nil {
		fail("CreateContainerError", err.Error())
		return
	}
	if len(edits.Unsimulated) > 0 {
		klog.InfoS("CDI edits not simulated", "pod", klog.KObj(pod), "container", c.spec.Name, "edits", edits.Unsimulated)
	}
	mounts, err := w.mounts(pod, c, allEnv, opts.Mounts, opts.Devices, edits)
	if err != nil {
		fail("CreateContainerConfigError", err.Error())
		return
	}
	n := c.nextRestartNumber()
	msgFile, err := w.terminationMessageFile(pod, c, n)
	if err != nil {
		fail("CreateContainerError", err.Error())
		return
	}
	if msgFile != "" {
		mounts = append(mounts, bindMount{Source: msgFile, Target: c.spec.TerminationMessagePath})
	}
	spec := execSpec{Path: bin, Args: argv, Env: edits.Env, Dir: c.spec.WorkingDir, Mounts: mounts}
	logFile := o.hostPath(filepath.Join("/var/log/pods", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID), c.spec.Name, fmt.Sprintf("%d.log", n)))
	specFile := filepath.Join(w.k.volumes.podDir(pod), "sim", fmt.Sprintf("%s-%d.json", c.spec.Name, n))
	inst, err := c.launch(spec, specFile, logFile, msgFile, id)
	if err != nil {
		klog.InfoS("Container failed to start", "pod", klog.KObj(pod), "container", c.spec.Name, "err", err)
		w.k.events.Event(pod, v1.EventTypeWarning, "Failed", "Error: "+err.Error())
		c.startFailed(o, pod.Name, id, "StartError", err.Error())
		return
	}
	c.begin(inst)
	w.setContainerID(c.spec.Name, id)
	klog.InfoS("Container started", "pod", klog.KObj(pod), "container", c.spec.Name, "pid", inst.cmd.Process.Pid, "argv", argv, "log", logFile)
	w.k.events.Event(pod, v1.EventTypeNormal, "Started", fmt.Sprintf("Started container %s (sim: pid %d, %s)", c.spec.Name, inst.cmd.Process.Pid, bin))
	probeCtx, cancel := context.WithCancel(ctx)
	go func() {
		<-inst.exited
		cancel()
	}()
	p := &prober{o: o, c: c, inst: inst, hostPorts: w.hostPorts, killGrace: gracePeriod(pod),
		event: func(eventType, reason, msg string) { w.k.events.Event(pod, eventType, reason, msg) }}
	p.start(probeCtx)
}

// mounts lists the container's bind mounts: its volume mounts (sub-paths
// resolved), then the device plugin's mounts and device nodes, then the CDI
// devices' mounts and device nodes; their host paths are paths of the node,
// so under its root.
func (w *podWorker) mounts(pod *v1.Pod, c *container, env []kubecontainer.EnvVar, devMounts []kubecontainer.Mount, devs []kubecontainer.DeviceInfo, edits *cdiEdits) ([]bindMount, error) {
	var out []bindMount
	for _, vm := range c.spec.VolumeMounts {
		src, ok := w.volumes.paths[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %s names no volume of the pod", vm.Name)
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			var err error
			if sub, err = kubecontainer.ExpandContainerVolumeMounts(vm, env); err != nil {
				return nil, err
			}
		}
		if sub != "" {
			src = filepath.Join(src, sub)
			if _, err := os.Stat(src); os.IsNotExist(err) {
				if err := os.MkdirAll(src, 0o755); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, bindMount{Source: src, Target: vm.MountPath, ReadOnly: vm.ReadOnly || w.volumes.readOnly[vm.Name]})
	}
	for _, m := range devMounts {
		out = append(out, bindMount{Source: w.k.o.hostPath(m.HostPath), Target: m.ContainerPath, ReadOnly: m.ReadOnly})
	}
	for _, d := range devs {
		out = append(out, bindMount{Source: w.k.o.hostPath(d.PathOnHost), Target: d.PathInContainer, ReadOnly: !strings.Contains(d.Permissions, "w")})
	}
	for _, m := range edits.Mounts {
		out = append(out, bindMount{Source: w.k.o.hostPath(m.HostPath), Target: m.ContainerPath, ReadOnly: m.ReadOnly})
	}
	for _, d := range edits.DeviceNodes {
		// CDI's default permissions are "rwm".
		out = append(out, bindMount{Source: w.k.o.hostPath(d.HostPath), Target: d.Path, ReadOnly: d.Permissions != "" && !strings.Contains(d.Permissions, "w")})
	}
	return out, nil
}

// cdiNames is the list of CDI devices the runtime gets for a container, as
// the kubelet's container manager builds it: the DRA manager's, then the
// device plugins'.
func cdiNames(opts *devicemanager.DeviceRunContainerOptions, draIDs []string) []string {
	names := append([]string(nil), draIDs...)
	for _, d := range opts.CDIDevices {
		names = append(names, d.Name)
	}
	return names
}

// terminationMessageFile creates the empty host file that instance n of c
// sees at its terminationMessagePath, as the kubelet does (under the pod's
// directory, writable by any user); "" when the container names no path.
func (w *podWorker) terminationMessageFile(pod *v1.Pod, c *container, n int32) (string, error) {
	if c.spec.TerminationMessagePath == "" {
		return "", nil
	}
	dir := filepath.Join(w.k.volumes.podDir(pod), "containers", c.spec.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("termination-log-%d", n))
	if err := os.WriteFile(path, nil, 0o666); err != nil {
		return "", err
	}
	// Not narrowed by the umask: a container running as another user
	// writes it too.
	return path, os.Chmod(path, 0o666)
}

func (w *podWorker) allContainers() []*container {
	return append(append([]*container{}, w.initContainers...), w.containers...)
}

// stopContainers stops every running container, in parallel, each with the
// grace period.
func (w *podWorker) stopContainers(grace time.Duration) {
	var wg sync.WaitGroup
	for _, c := range w.allContainers() {
		if !c.running() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.kill(grace, true)
		}()
	}
	wg.Wait()
}

// terminate handles a pod being deleted: its containers stop within the
// grace period, its final status is written, and the deletion is confirmed
// with grace 0 (the kubelet's part of graceful deletion), which frees the
// name for a replacement.
func (w *podWorker) terminate(ctx context.Context, pod *v1.Pod) {
	if !w.killed {
		w.killed = true
		for _, c := range w.allContainers() {
			if c.running() {
				w.k.events.Event(pod, v1.EventTypeNormal, "Killing", "Stopping container "+c.spec.Name)
			}
		}
		w.stopContainers(gracePeriod(pod))
		w.setActive(false)
	}
	// As the kubelet: claims are unprepared after every container has
	// stopped and before the final status, and the pod is not deleted
	// before that succeeds.
	if !w.unprepareResources(ctx, pod) {
		return
	}
	if w.admitted && !w.finished {
		status := w.processStatus(pod)
		if !w.processes {
			status = w.stoppedAdmittedOnlyStatus(pod)
		}
		w.patchStatus(ctx, pod, status)
	}
	if w.deleteSent {
		return
	}
	zero := int64(0)
	err := w.k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		klog.ErrorS(err, "Confirming pod deletion", "pod", klog.KObj(pod))
		return
	}
	w.deleteSent = true
	klog.InfoS("Pod deleted", "pod", klog.KObj(pod))
}

func (w *podWorker) stoppedAdmittedOnlyStatus(pod *v1.Pod) v1.PodStatus {
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	started := metav1.NewTime(w.admittedAt.Truncate(time.Second))
	var regular []v1.ContainerStatus
	for _, c := range w.containers {
		no := false
		regular = append(regular, v1.ContainerStatus{
			Name: c.spec.Name, Image: c.spec.Image, ImageID: "sim://" + c.spec.Image, Started: &no,
			State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{Reason: "Completed", StartedAt: started, FinishedAt: now}},
		})
	}
	s := w.buildStatus(pod, pod.Status.InitContainerStatuses, regular, v1.PodSucceeded)
	return s
}
