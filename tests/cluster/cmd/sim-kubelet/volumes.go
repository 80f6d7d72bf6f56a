package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	resourcehelper "k8s.io/kubernetes/pkg/api/v1/resource"
	volumeutil "k8s.io/kubernetes/pkg/volume/util"
)

// podVolumes are a pod's volumes as host directories (or files), ready to
// be bind-mounted into its containers.
type podVolumes struct {
	paths map[string]string // volume name -> host path
	// Projected, ConfigMap, Secret and downward API volumes are read-only
	// in every container, as the kubelet mounts them.
	readOnly map[string]bool
	// writers rewrite the volumes whose content expires (service-account
	// tokens); refreshAt is when the first of them is due.
	writers   []func(context.Context) (time.Time, error)
	refreshAt time.Time
}

// volumeSetup has what setting up volumes needs.
type volumeSetup struct {
	o      *options
	client kubernetes.Interface // node credentials
	get    objectGetter
}

// podDir is the kubelet's per-pod directory, inside the node.
func (s *volumeSetup) podDir(pod *v1.Pod) string {
	return s.o.hostPath(filepath.Join(kubeletDir, "pods", string(pod.UID)))
}

// setUp prepares every volume of the pod. hostPath volumes are directories
// under the node's root (<root>/<path>), checked and created according to
// their type; emptyDir, projected, configMap, secret and downwardAPI volumes
// live in the pod's directory, the last four written with the kubelet's
// atomic writer. Other volume types are not simulated.
func (s *volumeSetup) setUp(ctx context.Context, pod *v1.Pod, ip string) (*podVolumes, error) {
	vols := &podVolumes{paths: map[string]string{}, readOnly: map[string]bool{}}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		switch {
		case v.HostPath != nil:
			p, err := s.hostPathVolume(v.HostPath)
			if err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			vols.paths[v.Name] = p
		case v.EmptyDir != nil:
			p := filepath.Join(s.podDir(pod), "volumes", "kubernetes.io~empty-dir", v.Name)
			if err := os.MkdirAll(p, 0o777); err != nil {
				return nil, err
			}
			vols.paths[v.Name] = p
		case v.Projected != nil || v.ConfigMap != nil || v.Secret != nil || v.DownwardAPI != nil:
			p, write, err := s.dataVolume(pod, ip, v)
			if err != nil {
				return nil, err
			}
			next, err := write(ctx)
			if err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			vols.paths[v.Name], vols.readOnly[v.Name] = p, true
			if !next.IsZero() {
				vols.writers = append(vols.writers, write)
				if vols.refreshAt.IsZero() || next.Before(vols.refreshAt) {
					vols.refreshAt = next
				}
			}
		default:
			return nil, fmt.Errorf("volume %s: only hostPath, emptyDir, projected, configMap, secret and downwardAPI volumes are simulated", v.Name)
		}
	}
	return vols, nil
}

// refresh rewrites expiring volumes once they are due.
func (v *podVolumes) refresh(ctx context.Context) error {
	if v.refreshAt.IsZero() || time.Now().Before(v.refreshAt) {
		return nil
	}
	v.refreshAt = time.Time{}
	for _, write := range v.writers {
		next, err := write(ctx)
		if err != nil {
			v.refreshAt = time.Now().Add(10 * time.Second)
			return err
		}
		if v.refreshAt.IsZero() || next.Before(v.refreshAt) {
			v.refreshAt = next
		}
	}
	return nil
}

func (s *volumeSetup) hostPathVolume(hp *v1.HostPathVolumeSource) (string, error) {
	p := s.o.hostPath(hp.Path)
	typ := v1.HostPathUnset
	if hp.Type != nil {
		typ = *hp.Type
	}
	st, err := os.Stat(p)
	exists := err == nil
	switch typ {
	case v1.HostPathUnset, v1.HostPathDirectoryOrCreate:
		// With no type, a container runtime creates a missing path as a
		// directory too.
		if !exists {
			return p, os.MkdirAll(p, 0o755)
		}
		if typ == v1.HostPathDirectoryOrCreate && !st.IsDir() {
			return "", fmt.Errorf("hostPath type check failed: %s is not a directory", hp.Path)
		}
	case v1.HostPathFileOrCreate:
		if !exists {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return "", err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return "", err
			}
			return p, f.Close()
		}
		if !st.Mode().IsRegular() {
			return "", fmt.Errorf("hostPath type check failed: %s is not a file", hp.Path)
		}
	case v1.HostPathDirectory:
		if !exists || !st.IsDir() {
			return "", fmt.Errorf("hostPath type check failed: %s is not a directory (looked at %s)", hp.Path, p)
		}
	case v1.HostPathFile:
		if !exists || !st.Mode().IsRegular() {
			return "", fmt.Errorf("hostPath type check failed: %s is not a file (looked at %s)", hp.Path, p)
		}
	case v1.HostPathSocket:
		if !exists || st.Mode()&os.ModeSocket == 0 {
			return "", fmt.Errorf("hostPath type check failed: %s is not a socket (looked at %s)", hp.Path, p)
		}
	case v1.HostPathCharDev, v1.HostPathBlockDev:
		if !exists || st.Mode()&os.ModeDevice == 0 {
			return "", fmt.Errorf("hostPath type check failed: %s is not a device (looked at %s)", hp.Path, p)
		}
	default:
		return "", fmt.Errorf("hostPath type %q not simulated", typ)
	}
	return p, nil
}

// dataVolume returns the directory of a projected-style volume and the
// function that (re)writes its content, which reports when the content
// should be rewritten (zero: never).
func (s *volumeSetup) dataVolume(pod *v1.Pod, ip string, v *v1.Volume) (string, func(context.Context) (time.Time, error), error) {
	var plugin string
	var sources []v1.VolumeProjection
	var mode *int32
	switch {
	case v.Projected != nil:
		plugin, sources, mode = "projected", v.Projected.Sources, v.Projected.DefaultMode
	case v.ConfigMap != nil:
		plugin, mode = "configmap", v.ConfigMap.DefaultMode
		sources = []v1.VolumeProjection{{ConfigMap: &v1.ConfigMapProjection{
			LocalObjectReference: v.ConfigMap.LocalObjectReference, Items: v.ConfigMap.Items, Optional: v.ConfigMap.Optional,
		}}}
	case v.Secret != nil:
		plugin, mode = "secret", v.Secret.DefaultMode
		sources = []v1.VolumeProjection{{Secret: &v1.SecretProjection{
			LocalObjectReference: v1.LocalObjectReference{Name: v.Secret.SecretName}, Items: v.Secret.Items, Optional: v.Secret.Optional,
		}}}
	case v.DownwardAPI != nil:
		plugin, mode = "downward-api", v.DownwardAPI.DefaultMode
		sources = []v1.VolumeProjection{{DownwardAPI: &v1.DownwardAPIProjection{Items: v.DownwardAPI.Items}}}
	}
	defaultMode := int32(0o644)
	if mode != nil {
		defaultMode = *mode
	}
	dir := filepath.Join(s.podDir(pod), "volumes", "kubernetes.io~"+plugin, v.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	write := func(ctx context.Context) (time.Time, error) {
		payload, refreshAt, err := s.payload(ctx, pod, ip, sources, defaultMode)
		if err != nil {
			return time.Time{}, err
		}
		w, err := volumeutil.NewAtomicWriter(dir, "sim-kubelet "+pod.Namespace+"/"+pod.Name+" volume "+v.Name)
		if err != nil {
			return time.Time{}, err
		}
		return refreshAt, w.Write(payload, nil)
	}
	return dir, write, nil
}

func (s *volumeSetup) payload(ctx context.Context, pod *v1.Pod, ip string, sources []v1.VolumeProjection, defaultMode int32) (map[string]volumeutil.FileProjection, time.Time, error) {
	payload := map[string]volumeutil.FileProjection{}
	var refreshAt time.Time
	file := func(path string, data []byte, mode *int32) {
		m := defaultMode
		if mode != nil {
			m = *mode
		}
		payload[path] = volumeutil.FileProjection{Data: data, Mode: m}
	}
	keys := func(data map[string][]byte, items []v1.KeyToPath, what string) error {
		if len(items) == 0 {
			for k, v := range data {
				file(k, v, nil)
			}
			return nil
		}
		for _, it := range items {
			v, ok := data[it.Key]
			if !ok {
				return fmt.Errorf("%s has no key %s", what, it.Key)
			}
			file(it.Path, v, it.Mode)
		}
		return nil
	}
	for _, src := range sources {
		switch {
		case src.ServiceAccountToken != nil:
			tok, err := s.token(ctx, pod, src.ServiceAccountToken)
			if err != nil {
				return nil, time.Time{}, err
			}
			file(src.ServiceAccountToken.Path, []byte(tok.Status.Token), nil)
			// The kubelet rotates a token once 80% of its lifetime has passed.
			issued := time.Now()
			next := issued.Add(tok.Status.ExpirationTimestamp.Sub(issued) * 8 / 10)
			if refreshAt.IsZero() || next.Before(refreshAt) {
				refreshAt = next
			}
		case src.ConfigMap != nil:
			cm, err := s.get.configMap(ctx, pod.Namespace, src.ConfigMap.Name)
			if apierrors.IsNotFound(err) && src.ConfigMap.Optional != nil && *src.ConfigMap.Optional {
				continue
			}
			if err != nil {
				return nil, time.Time{}, fmt.Errorf("configMap %s: %w", src.ConfigMap.Name, err)
			}
			data := map[string][]byte{}
			for k, v := range cm.Data {
				data[k] = []byte(v)
			}
			for k, v := range cm.BinaryData {
				data[k] = v
			}
			if err := keys(data, src.ConfigMap.Items, "configMap "+cm.Name); err != nil {
				return nil, time.Time{}, err
			}
		case src.Secret != nil:
			sec, err := s.get.secret(ctx, pod.Namespace, src.Secret.Name)
			if apierrors.IsNotFound(err) && src.Secret.Optional != nil && *src.Secret.Optional {
				continue
			}
			if err != nil {
				return nil, time.Time{}, fmt.Errorf("secret %s: %w", src.Secret.Name, err)
			}
			if err := keys(sec.Data, src.Secret.Items, "secret "+sec.Name); err != nil {
				return nil, time.Time{}, err
			}
		case src.DownwardAPI != nil:
			for _, it := range src.DownwardAPI.Items {
				var value string
				var err error
				switch {
				case it.FieldRef != nil:
					value, err = podFieldValue(pod, ip, it.FieldRef)
				case it.ResourceFieldRef != nil:
					value, err = resourcehelper.ExtractResourceValueByContainerNameAndNodeAllocatable(
						it.ResourceFieldRef, pod, it.ResourceFieldRef.ContainerName, v1.ResourceList{v1.ResourceCPU: s.o.cpu, v1.ResourceMemory: s.o.memory})
				}
				if err != nil {
					return nil, time.Time{}, fmt.Errorf("downwardAPI %s: %w", it.Path, err)
				}
				file(it.Path, []byte(value), it.Mode)
			}
		default:
			return nil, time.Time{}, fmt.Errorf("projected source not simulated: %s", describeSource(src))
		}
	}
	return payload, refreshAt, nil
}

// token asks the TokenRequest API, with the node's credentials, for a token
// bound to the pod, as the kubelet's token manager does. Because the pod is
// bound to this node, the API server records the node in the token and
// presents it as the user extra authentication.kubernetes.io/node-name.
func (s *volumeSetup) token(ctx context.Context, pod *v1.Pod, src *v1.ServiceAccountTokenProjection) (*authenticationv1.TokenRequest, error) {
	seconds := int64(3600)
	if src.ExpirationSeconds != nil {
		seconds = *src.ExpirationSeconds
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &seconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	tok, err := s.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, req, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("TokenRequest for %s/%s bound to pod %s: %w", pod.Namespace, pod.Spec.ServiceAccountName, pod.Name, err)
	}
	return tok, nil
}

func describeSource(src v1.VolumeProjection) string {
	var kinds []string
	if src.ClusterTrustBundle != nil {
		kinds = append(kinds, "clusterTrustBundle")
	}
	if src.PodCertificate != nil {
		kinds = append(kinds, "podCertificate")
	}
	return strings.Join(kinds, ",")
}
