package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	kubecontainer "k8s.io/kubernetes/pkg/kubelet/container"
)

// allocationAnnotation is where the node records, on each pod it admits,
// what every container got: its devices by resource and its claimed
// devices, its environment as the container would see it (CDI devices'
// variables included), the device plugin's and the CDI devices' mounts and
// device nodes, the device plugin's annotations, and the CDI devices; for
// pods run as processes also the loopback address standing in for each
// named container port. It is written with --recorder-kubeconfig, because
// node credentials may only write pod status.
const allocationAnnotation = "hashfoundry.com/allocation"

type allocationRecord struct {
	Node       string                `json:"node"`
	Containers []containerAllocation `json:"containers"`
	// Ports maps "<container>/<port name or number>" to 127.0.0.1:<port>.
	Ports map[string]string `json:"ports,omitempty"`
}

type containerAllocation struct {
	Name        string              `json:"name"`
	Devices     map[string][]string `json:"devices,omitempty"`
	Env         map[string]string   `json:"env,omitempty"`
	Mounts      []recordedMount     `json:"mounts,omitempty"`
	DeviceNodes []recordedDevice    `json:"deviceNodes,omitempty"`
	Annotations map[string]string   `json:"annotations,omitempty"`
	// CDIDevices are the device plugins' and the DRA manager's CDI device
	// names, resolved against the node's CDI specs.
	CDIDevices []string `json:"cdiDevices,omitempty"`
	// Claims lists the devices the DRA manager prepared for the container,
	// as "<claim>: <driver>/<pool>/<device>".
	Claims []string `json:"claims,omitempty"`
	Error  string   `json:"error,omitempty"`
}

type recordedMount struct {
	ContainerPath string `json:"containerPath"`
	HostPath      string `json:"hostPath"`
	ReadOnly      bool   `json:"readOnly,omitempty"`
}

type recordedDevice struct {
	ContainerPath string `json:"containerPath"`
	HostPath      string `json:"hostPath"`
	Permissions   string `json:"permissions"`
}

// recordAllocation writes the allocation annotation, unless it would say
// what it already says.
func (w *podWorker) recordAllocation(ctx context.Context, pod *v1.Pod, hostPorts map[int32]int32) {
	w.recorded = true
	rec := allocationRecord{Node: w.k.o.nodeName}
	for _, list := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			rec.Containers = append(rec.Containers, w.containerAllocation(ctx, pod, &list[i]))
		}
	}
	for _, list := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			for _, p := range c.Ports {
				hp, ok := hostPorts[p.ContainerPort]
				if !ok {
					continue
				}
				name := p.Name
				if name == "" {
					name = fmt.Sprint(p.ContainerPort)
				}
				if rec.Ports == nil {
					rec.Ports = map[string]string{}
				}
				rec.Ports[c.Name+"/"+name] = fmt.Sprintf("%s:%d", loopback, hp)
			}
		}
	}
	data, err := json.Marshal(rec)
	if err != nil {
		klog.ErrorS(err, "Encoding allocation record", "pod", klog.KObj(pod))
		return
	}
	if string(data) == w.lastRecord {
		return
	}
	klog.InfoS("Allocation", "pod", klog.KObj(pod), "record", string(data))
	if w.k.recorder == nil {
		w.lastRecord = string(data)
		return
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{allocationAnnotation: string(data)},
		"uid":         pod.UID, // never annotate a replacement of the same name
	}})
	if err != nil {
		return
	}
	if _, err := w.k.recorder.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metaOptions()); err != nil {
		klog.ErrorS(err, "Recording allocation", "pod", klog.KObj(pod))
		return
	}
	w.lastRecord = string(data)
}

func (w *podWorker) containerAllocation(ctx context.Context, pod *v1.Pod, c *v1.Container) containerAllocation {
	out := containerAllocation{Name: c.Name, Devices: w.k.devices.devicesOf(pod.UID, c.Name), Claims: w.k.dra.claimsOf(pod, c)}
	opts, err := w.k.devices.runOptions(ctx, pod, c)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	var errs []error
	draIDs, err := w.k.dra.cdiDevices(pod, c)
	if err != nil {
		errs = append(errs, err)
	}
	env, err := containerEnv(ctx, w.k.get, pod, w.podIP, c, w.k.allocatable(), w.k.svcEnv)
	if err != nil {
		errs = append(errs, err)
	}
	allEnv := append(append([]kubecontainer.EnvVar{}, opts.Envs...), env...)
	out.Env = effectiveEnv(allEnv)
	edits, err := w.k.cdi.resolve(cdiNames(opts, draIDs), envList(allEnv))
	if err != nil {
		errs = append(errs, err)
	} else {
		out.Env = map[string]string{}
		for _, kv := range edits.Env {
			k, v, _ := strings.Cut(kv, "=")
			out.Env[k] = v
		}
		for _, m := range edits.Mounts {
			out.Mounts = append(out.Mounts, recordedMount{ContainerPath: m.ContainerPath, HostPath: m.HostPath, ReadOnly: m.ReadOnly})
		}
		for _, d := range edits.DeviceNodes {
			perms := d.Permissions
			if perms == "" {
				perms = "rwm"
			}
			out.DeviceNodes = append(out.DeviceNodes, recordedDevice{ContainerPath: d.Path, HostPath: d.HostPath, Permissions: perms})
		}
	}
	if len(errs) > 0 {
		out.Error = errors.Join(errs...).Error()
	}
	for _, m := range opts.Mounts {
		out.Mounts = append(out.Mounts, recordedMount{ContainerPath: m.ContainerPath, HostPath: m.HostPath, ReadOnly: m.ReadOnly})
	}
	for _, d := range opts.Devices {
		out.DeviceNodes = append(out.DeviceNodes, recordedDevice{ContainerPath: d.PathInContainer, HostPath: d.PathOnHost, Permissions: d.Permissions})
	}
	for _, a := range opts.Annotations {
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[a.Name] = a.Value
	}
	out.CDIDevices = cdiNames(opts, draIDs)
	sort.Slice(out.Mounts, func(i, j int) bool { return out.Mounts[i].ContainerPath < out.Mounts[j].ContainerPath })
	return out
}
