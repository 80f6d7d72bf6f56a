package main

import (
	"context"
	"sort"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	kubestatus "k8s.io/kubernetes/pkg/kubelet/status"
	statusutil "k8s.io/kubernetes/pkg/util/pod"
)

// processStatus is the status of a pod whose containers run as processes.
func (w *podWorker) processStatus(pod *v1.Pod) v1.PodStatus {
	var inits, regular []v1.ContainerStatus
	for _, c := range w.initContainers {
		inits = append(inits, c.status())
	}
	for _, c := range w.containers {
		regular = append(regular, c.status())
	}
	return w.buildStatus(pod, inits, regular, podPhase(pod, inits, regular, w.killed))
}

// podPhase follows the kubelet's getPhase: Pending until the init
// containers have succeeded and every container has run; then Running while
// any runs or will be restarted; Succeeded or Failed when all have stopped
// for good. A pod being deleted does not restart anything.
func podPhase(pod *v1.Pod, inits, regular []v1.ContainerStatus, stopping bool) v1.PodPhase {
	policy := pod.Spec.RestartPolicy
	if stopping {
		policy = v1.RestartPolicyNever
	}
	for _, s := range inits {
		if t := s.State.Terminated; t != nil && t.ExitCode == 0 {
			continue
		}
		if t := s.State.Terminated; t != nil && policy == v1.RestartPolicyNever {
			return v1.PodFailed
		}
		return v1.PodPending
	}
	var running, waiting, stopped, succeeded int
	for _, s := range regular {
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			if s.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case s.LastTerminationState.Terminated != nil:
			stopped++ // waiting to be restarted
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return v1.PodPending
	case running > 0:
		return v1.PodRunning
	case stopped > 0:
		if policy == v1.RestartPolicyAlways {
			return v1.PodRunning
		}
		if stopped == succeeded {
			return v1.PodSucceeded
		}
		if policy == v1.RestartPolicyNever {
			return v1.PodFailed
		}
		return v1.PodRunning
	}
	return v1.PodPending
}

// buildStatus assembles a pod status around container statuses: IPs,
// start time, the conditions from the kubelet's own generators (their
// transition times kept while they do not change), and the health of the
// devices each container holds.
func (w *podWorker) buildStatus(pod *v1.Pod, inits, regular []v1.ContainerStatus, phase v1.PodPhase) v1.PodStatus {
	old := pod.Status
	s := *old.DeepCopy()
	s.ObservedGeneration = pod.Generation
	s.Phase, s.Reason, s.Message = phase, "", ""
	s.HostIP, s.HostIPs = loopback, []v1.HostIP{{IP: loopback}}
	s.PodIP, s.PodIPs = w.podIP, []v1.PodIP{{IP: w.podIP}}
	if s.StartTime == nil {
		t := metav1.NewTime(w.admittedAt.Truncate(time.Second))
		s.StartTime = &t
	}
	s.InitContainerStatuses, s.ContainerStatuses = inits, regular
	conditions := []v1.PodCondition{
		{Type: v1.PodReadyToStartContainers, Status: v1.ConditionTrue, ObservedGeneration: pod.Generation},
		kubestatus.GeneratePodInitializedCondition(pod, &old, inits, phase),
		kubestatus.GenerateContainersReadyCondition(pod, &old, regular, phase),
		kubestatus.GeneratePodReadyCondition(pod, &old, old.Conditions, regular, phase),
	}
	if (w.processes && w.volumes == nil) || !w.prepared {
		conditions[0].Status = v1.ConditionFalse
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	for i := range conditions {
		c := &conditions[i]
		c.LastTransitionTime = now
		for _, p := range old.Conditions {
			if p.Type == c.Type && p.Status == c.Status {
				c.LastTransitionTime = p.LastTransitionTime
			}
		}
		s.Conditions = statusutil.ReplaceOrAppendPodCondition(s.Conditions, c)
	}
	w.k.devices.updateResourceHealth(pod, &s)
	w.k.dra.updateResourceHealth(pod, &s)
	sortResourceHealth(&s)
	return s
}

// sortResourceHealth orders allocatedResourcesStatus, which the managers
// list in map order: sorted, an unchanged status compares equal and is not
// sent again.
func sortResourceHealth(status *v1.PodStatus) {
	for i := range status.ContainerStatuses {
		rs := status.ContainerStatuses[i].AllocatedResourcesStatus
		sort.Slice(rs, func(a, b int) bool { return rs[a].Name < rs[b].Name })
		for j := range rs {
			r := rs[j].Resources
			sort.Slice(r, func(a, b int) bool { return r[a].ResourceID < r[b].ResourceID })
		}
	}
}

// patchStatus sends the status if it differs from the stored one, with the
// kubelet's own status patch.
func (w *podWorker) patchStatus(ctx context.Context, pod *v1.Pod, status v1.PodStatus) {
	if apiequality.Semantic.DeepEqual(pod.Status, status) ||
		(w.lastPatched != nil && apiequality.Semantic.DeepEqual(*w.lastPatched, status)) {
		return
	}
	if _, _, _, err := statusutil.PatchPodStatus(ctx, w.k.client, pod.Namespace, pod.Name, pod.UID, pod.Status, status); err != nil {
		klog.ErrorS(err, "Updating pod status", "pod", klog.KObj(pod))
		return
	}
	w.lastPatched = &status
	if pod.Status.Phase != status.Phase {
		klog.InfoS("Pod phase", "pod", klog.KObj(pod), "phase", status.Phase)
	}
}
