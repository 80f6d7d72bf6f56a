package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubecontainer "k8s.io/kubernetes/pkg/kubelet/container"
)

func TestRewriteAddressArgs(t *testing.T) {
	ports := map[int32]int32{8080: 41000, 9090: 42000}
	for _, tc := range []struct{ in, want string }{
		{"--http-address=:8080", "--http-address=127.0.0.1:41000"},
		{"--http-address=0.0.0.0:8080", "--http-address=127.0.0.1:41000"},
		{"--metrics-bind-address=[::]:9090", "--metrics-bind-address=127.0.0.1:42000"},
		{"-listen=localhost:9090", "-listen=127.0.0.1:42000"},
		// Not a declared container port, or not an address: left alone.
		{"--http-address=:8081", "--http-address=:8081"},
		{"--simulated-count=4", "--simulated-count=4"},
		{"--kubelet-dir=/var/lib/kubelet:8080", "--kubelet-dir=/var/lib/kubelet:8080"},
		{":8080", ":8080"},
	} {
		if got := rewriteAddressArgs([]string{tc.in}, ports)[0]; got != tc.want {
			t.Errorf("rewriteAddressArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

type fakeObjects struct{ configMaps map[string]*v1.ConfigMap }

func (f fakeObjects) configMap(_ context.Context, _, name string) (*v1.ConfigMap, error) {
	if cm, ok := f.configMaps[name]; ok {
		return cm, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func (f fakeObjects) secret(_ context.Context, _, name string) (*v1.Secret, error) {
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func TestContainerEnv(t *testing.T) {
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "agent-x", Namespace: "ns", Labels: map[string]string{"app": "agent"}},
		Spec:       v1.PodSpec{NodeName: "node-1", ServiceAccountName: "sa"},
	}
	optional := true
	c := &v1.Container{Name: "c", Env: []v1.EnvVar{
		{Name: "NODE_NAME", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
		{Name: "POD_NAME", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "APP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
		{Name: "POD_IP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "GREETING", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{
			LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}, Key: "greeting"}}},
		{Name: "MISSING", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{
			LocalObjectReference: v1.LocalObjectReference{Name: "absent"}, Key: "k", Optional: &optional}}},
		{Name: "COMPOSED", Value: "$(GREETING)@$(NODE_NAME):$(KUBERNETES_SERVICE_PORT)"},
		// Defined later, so not expanded: order matters, as in the kubelet.
		{Name: "EARLY", Value: "$(LATE)"},
		{Name: "LATE", Value: "x"},
		{Name: "ESCAPED", Value: "$$(NODE_NAME)"},
	}}
	get := fakeObjects{configMaps: map[string]*v1.ConfigMap{"cfg": {Data: map[string]string{"greeting": "hello"}}}}
	vars, err := containerEnv(context.Background(), get, pod, "198.18.0.7", c, nil, serviceEnv("127.0.0.1", 6443))
	if err != nil {
		t.Fatal(err)
	}
	env := effectiveEnv(vars)
	for k, want := range map[string]string{
		"NODE_NAME": "node-1", "POD_NAME": "agent-x", "APP": "agent", "POD_IP": "198.18.0.7", "GREETING": "hello",
		"COMPOSED": "hello@node-1:6443", "EARLY": "$(LATE)", "ESCAPED": "$(NODE_NAME)",
		"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	if _, ok := env["MISSING"]; ok {
		t.Errorf("an optional key of a missing ConfigMap should define no variable")
	}

	// Device plugin variables come first, so the container's own win, and
	// are not available for $(VAR) in env values but are in args.
	c.Args = []string{"--ids=$(WIDGET_IDS)", "--node=$(NODE_NAME)"}
	all := append([]kubecontainer.EnvVar{{Name: "WIDGET_IDS", Value: "w-1"}, {Name: "LATE", Value: "from-plugin"}}, vars...)
	if got := effectiveEnv(all)["LATE"]; got != "x" {
		t.Errorf("LATE = %q: the container's own value should win", got)
	}
	_, args := kubecontainer.ExpandContainerCommandAndArgs(c, all)
	if !slices.Equal(args, []string{"--ids=w-1", "--node=node-1"}) {
		t.Errorf("args = %q", args)
	}
}

func TestContainerEnvFailsOnAMissingRequiredKey(t *testing.T) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	c := &v1.Container{Env: []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{
		LocalObjectReference: v1.LocalObjectReference{Name: "absent"}, Key: "k"}}}}}
	if _, err := containerEnv(context.Background(), fakeObjects{}, pod, "198.18.0.1", c, nil, nil); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Fatalf("err = %v, want one naming the ConfigMap", err)
	}
}

func TestPodPhase(t *testing.T) {
	running := v1.ContainerStatus{State: v1.ContainerState{Running: &v1.ContainerStateRunning{}}}
	waiting := v1.ContainerStatus{State: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
	exited := func(code int32) v1.ContainerStatus {
		return v1.ContainerStatus{State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: code}}}
	}
	backingOff := v1.ContainerStatus{
		State:                v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 1}},
	}
	pod := func(policy v1.RestartPolicy) *v1.Pod { return &v1.Pod{Spec: v1.PodSpec{RestartPolicy: policy}} }
	for _, tc := range []struct {
		name     string
		policy   v1.RestartPolicy
		inits    []v1.ContainerStatus
		regular  []v1.ContainerStatus
		stopping bool
		want     v1.PodPhase
	}{
		{"not started yet", v1.RestartPolicyAlways, nil, []v1.ContainerStatus{waiting}, false, v1.PodPending},
		{"running", v1.RestartPolicyAlways, nil, []v1.ContainerStatus{running}, false, v1.PodRunning},
		{"crash looping", v1.RestartPolicyAlways, nil, []v1.ContainerStatus{backingOff}, false, v1.PodRunning},
		{"init container running", v1.RestartPolicyAlways, []v1.ContainerStatus{running}, []v1.ContainerStatus{waiting}, false, v1.PodPending},
		{"init failed, never restart", v1.RestartPolicyNever, []v1.ContainerStatus{exited(1)}, []v1.ContainerStatus{waiting}, false, v1.PodFailed},
		{"completed", v1.RestartPolicyNever, nil, []v1.ContainerStatus{exited(0)}, false, v1.PodSucceeded},
		{"failed", v1.RestartPolicyNever, nil, []v1.ContainerStatus{exited(0), exited(2)}, false, v1.PodFailed},
		{"stopped by deletion", v1.RestartPolicyAlways, nil, []v1.ContainerStatus{exited(0)}, true, v1.PodSucceeded},
		{"killed by deletion", v1.RestartPolicyAlways, nil, []v1.ContainerStatus{exited(137)}, true, v1.PodFailed},
	} {
		if got := podPhase(pod(tc.policy), tc.inits, tc.regular, tc.stopping); got != tc.want {
			t.Errorf("%s: phase %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestPodIPAllocator(t *testing.T) {
	a := newPodIPAllocator("node-1")
	seen := map[string]bool{}
	for range 254 {
		ip := a.next()
		if !strings.HasPrefix(ip, "198.18.") && !strings.HasPrefix(ip, "198.19.") {
			t.Fatalf("%s is outside 198.18.0.0/15", ip)
		}
		if seen[ip] {
			t.Fatalf("%s handed out twice", ip)
		}
		seen[ip] = true
	}
	if newPodIPAllocator("node-1").next() != newPodIPAllocator("node-1").next() {
		t.Errorf("a node's subnet should depend on its name only")
	}
}

func TestParseOptions(t *testing.T) {
	if _, err := parseOptions([]string{"--node-name=n"}); err == nil {
		t.Errorf("missing --root and --kubeconfig accepted")
	}
	if _, err := parseOptions([]string{"--node-name=N_1", "--root=/r", "--kubeconfig=k"}); err == nil {
		t.Errorf("a node name that is no DNS subdomain accepted")
	}
	o, err := parseOptions([]string{"--node-name=n", "--root=r", "--kubeconfig=k", "--node-labels=a.io/x=1,b=2"})
	if err != nil {
		t.Fatal(err)
	}
	if o.labels["a.io/x"] != "1" || o.labels["b"] != "2" || !strings.HasPrefix(o.root, "/") {
		t.Errorf("parsed %+v", o)
	}
	if _, err := parseOptions([]string{"--node-name=n", "--root=r", "--kubeconfig=k", "--node-labels=novalue"}); err == nil {
		t.Errorf("a label without a value accepted")
	}
}
