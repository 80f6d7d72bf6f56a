package main

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	resourcehelper "k8s.io/kubernetes/pkg/api/v1/resource"
	podshelper "k8s.io/kubernetes/pkg/apis/core/pods"
	"k8s.io/kubernetes/pkg/fieldpath"
	kubecontainer "k8s.io/kubernetes/pkg/kubelet/container"
	"k8s.io/kubernetes/pkg/kubelet/envvars"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"
)

// The simulated pod network: every pod shares the host's network, so what a
// program listens on is a loopback port of its own for each declared
// container port (see allocatePorts and rewriteAddressArgs), and the node's
// (host) IP is the loopback address. The pod IP in the status is a
// stand-in that nothing routes (see podIPAllocator): the API server
// rejects loopback addresses in Endpoints and EndpointSlices, so a pod IP of
// 127.0.0.1 would break every Service that selects the pod.
const loopback = "127.0.0.1"

// serviceEnv is what the kubelet always injects for the "kubernetes"
// Service of the default namespace (KUBERNETES_SERVICE_HOST and friends),
// pointing at the API server as a pod on this host reaches it. Other
// Services' variables (enableServiceLinks) are not simulated.
func serviceEnv(apiHost string, apiPort int32) map[string]string {
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault},
		Spec: v1.ServiceSpec{
			ClusterIP: apiHost,
			Ports:     []v1.ServicePort{{Name: "https", Port: apiPort, Protocol: v1.ProtocolTCP}},
		},
	}
	env := map[string]string{}
	for _, e := range envvars.FromServices([]*v1.Service{svc}) {
		env[e.Name] = e.Value
	}
	return env
}

// objectGetter reads the ConfigMaps and Secrets a pod references, with the
// node's credentials (the Node authorizer grants exactly those).
type objectGetter interface {
	configMap(ctx context.Context, ns, name string) (*v1.ConfigMap, error)
	secret(ctx context.Context, ns, name string) (*v1.Secret, error)
}

// containerEnv computes a container's variables the way the kubelet's
// makeEnvironmentVariables does: envFrom, then env (later wins), each value
// with $(VAR) references expanded against the variables defined so far and
// the service variables; valueFrom resolved from the pod, the container's
// resources, ConfigMaps and Secrets; then the service variables not already
// defined. The result is sorted by name.
func containerEnv(ctx context.Context, get objectGetter, pod *v1.Pod, ip string, c *v1.Container, nodeAllocatable v1.ResourceList, svcEnv map[string]string) ([]kubecontainer.EnvVar, error) {
	tmp := map[string]string{}
	mapping := expansion.MappingFuncFor(tmp, svcEnv)
	for _, from := range c.EnvFrom {
		data, err := envFromData(ctx, get, pod.Namespace, from)
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			tmp[from.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		value := e.Value
		switch {
		case value != "":
			value = expansion.Expand(value, mapping)
		case e.ValueFrom != nil:
			v, ok, err := envValueFrom(ctx, get, pod, ip, c, nodeAllocatable, e.ValueFrom)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			if !ok {
				continue // an optional key that is missing
			}
			value = v
		}
		tmp[e.Name] = value
	}
	var out []kubecontainer.EnvVar
	for k, v := range tmp {
		out = append(out, kubecontainer.EnvVar{Name: k, Value: v})
	}
	for k, v := range svcEnv {
		if _, ok := tmp[k]; !ok {
			out = append(out, kubecontainer.EnvVar{Name: k, Value: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func envFromData(ctx context.Context, get objectGetter, ns string, from v1.EnvFromSource) (map[string]string, error) {
	switch {
	case from.ConfigMapRef != nil:
		cm, err := get.configMap(ctx, ns, from.ConfigMapRef.Name)
		if apierrors.IsNotFound(err) && from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("envFrom configMap %s: %w", from.ConfigMapRef.Name, err)
		}
		return cm.Data, nil
	case from.SecretRef != nil:
		s, err := get.secret(ctx, ns, from.SecretRef.Name)
		if apierrors.IsNotFound(err) && from.SecretRef.Optional != nil && *from.SecretRef.Optional {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("envFrom secret %s: %w", from.SecretRef.Name, err)
		}
		data := map[string]string{}
		for k, v := range s.Data {
			data[k] = string(v)
		}
		return data, nil
	}
	return nil, fmt.Errorf("envFrom source not simulated: %+v", from)
}

// envValueFrom resolves one valueFrom; ok is false for a missing optional key.
func envValueFrom(ctx context.Context, get objectGetter, pod *v1.Pod, ip string, c *v1.Container, nodeAllocatable v1.ResourceList, src *v1.EnvVarSource) (string, bool, error) {
	switch {
	case src.FieldRef != nil:
		v, err := podFieldValue(pod, ip, src.FieldRef)
		return v, err == nil, err
	case src.ResourceFieldRef != nil:
		// Unset limits read as the node's allocatable, as in the kubelet.
		withDefaults := c.DeepCopy()
		resourcehelper.MergeContainerResourceLimits(withDefaults, nodeAllocatable)
		v, err := resourcehelper.ExtractContainerResourceValue(src.ResourceFieldRef, withDefaults)
		return v, err == nil, err
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		cm, err := get.configMap(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && optional {
				return "", false, nil
			}
			return "", false, err
		}
		v, ok := cm.Data[ref.Key]
		if !ok && !optional {
			return "", false, fmt.Errorf("key %s not in configMap %s", ref.Key, ref.Name)
		}
		return v, ok, nil
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		optional := ref.Optional != nil && *ref.Optional
		s, err := get.secret(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && optional {
				return "", false, nil
			}
			return "", false, err
		}
		v, ok := s.Data[ref.Key]
		if !ok && !optional {
			return "", false, fmt.Errorf("key %s not in secret %s", ref.Key, ref.Name)
		}
		return string(v), ok, nil
	}
	return "", false, fmt.Errorf("valueFrom source not simulated: %+v", src)
}

// podFieldValue resolves a fieldRef as the kubelet does: fields only it
// knows (node name, IPs) directly, the rest through the downward API's
// field path extraction. ip is the pod's IP.
func podFieldValue(pod *v1.Pod, ip string, ref *v1.ObjectFieldSelector) (string, error) {
	switch ref.FieldPath {
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return loopback, nil
	case "status.podIP", "status.podIPs":
		return ip, nil
	}
	version := ref.APIVersion
	if version == "" {
		version = "v1" // the API server's default
	}
	path, _, err := podshelper.ConvertDownwardAPIFieldLabel(version, ref.FieldPath, "")
	if err != nil {
		return "", err
	}
	return fieldpath.ExtractFieldPathAsString(pod, path)
}

// addressArg matches --flag=HOST:PORT and --flag=:PORT (HOST may be
// [IPv6]).
var addressArg = regexp.MustCompile(`^(--?[A-Za-z0-9][A-Za-z0-9_.-]*=)(\[[^\]]*\]|[^:\[\]/]*):([0-9]+)$`)

// rewriteAddressArgs is the other half of the simulated pod network: an
// argument that makes the program listen on one of its declared container
// ports, --http-address=:8080 say, is rewritten to the loopback port that
// stands in for that container port, 127.0.0.1:41234. Other arguments are
// left alone.
func rewriteAddressArgs(args []string, hostPorts map[int32]int32) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		m := addressArg.FindStringSubmatch(a)
		if m == nil {
			continue
		}
		port, err := strconv.ParseInt(m[3], 10, 32)
		if err != nil {
			continue
		}
		if hp, ok := hostPorts[int32(port)]; ok {
			out[i] = m[1] + loopback + ":" + strconv.Itoa(int(hp))
		}
	}
	return out
}

// effectiveEnv is what a process started with the runtime's variable list
// sees: later entries win (device plugin variables come first, so the
// container's own override them).
func effectiveEnv(vars []kubecontainer.EnvVar) map[string]string {
	m := map[string]string{}
	for _, v := range vars {
		m[v.Name] = v.Value
	}
	return m
}

func envList(vars []kubecontainer.EnvVar) []string {
	m := effectiveEnv(vars)
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
