package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"hashfoundry.com/device-operator/tests/cluster/internal/testutil"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	podresourcesapi "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// simNode is a sim-kubelet under test, with the control plane it joined.
type simNode struct {
	name, root, dir string
	bin             string // the cluster's binaries, kubectl among them
	admin           *kubernetes.Clientset
	adminConfig     *rest.Config
	cmd             *exec.Cmd
	exited          chan error
}

// TestSimKubelet runs a sim-kubelet against a real control plane: a
// DaemonSet pod of testdata/fakeplugin (which runs the kubelet's own device
// plugin stub) as a process, pods admitted through the device manager,
// PodResources, a kubelet restart, crash back-off, deletion and shutdown.
// It needs root (mount namespaces) and builds the control plane like
// TestCluster; HF_SKIP_CLUSTER=1 skips it.
func TestSimKubelet(t *testing.T) {
	if os.Getenv("HF_SKIP_CLUSTER") == "1" {
		t.Skip("HF_SKIP_CLUSTER=1")
	}
	if os.Geteuid() != 0 {
		t.Skip("sim-kubelet needs root for its mount namespaces")
	}
	n := startSimNode(t)
	ctx := t.Context()
	const resourceName = "example.com/widget"

	t.Run("node registers Ready with its labels and a Lease", func(t *testing.T) {
		node, err := n.admin.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if node.Labels["example.com/role"] != "widgets" || node.Labels[v1.LabelHostname] != n.name {
			t.Errorf("labels %v", node.Labels)
		}
		// The Lease controller starts beside the status loop, so the first
		// renewal may land just after the node turns Ready.
		eventually(t, 30*time.Second, "the node has a Lease", func() (bool, error) {
			_, err := n.admin.CoordinationV1().Leases(v1.NamespaceNodeLease).Get(ctx, n.name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return err == nil, err
		})
	})

	mustCreate(t, func() error {
		_, err := n.admin.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sim"}}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := n.admin.CoreV1().ServiceAccounts("sim").Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "plugin"}}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := n.admin.CoreV1().ConfigMaps("sim").Create(ctx, &v1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"greeting": "hello"},
		}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := n.admin.AppsV1().DaemonSets("sim").Create(ctx, fakePluginDaemonSet("widgets", resourceName), metav1.CreateOptions{})
		return err
	})
	reportFile := filepath.Join(n.root, "srv/widgets/report.json")

	var agent *v1.Pod
	t.Run("DaemonSet pod runs as a process and becomes Ready", func(t *testing.T) {
		eventually(t, time.Minute, "the widgets pod is Ready", func() (bool, error) {
			agent = daemonSetPod(ctx, n.admin, "widgets")
			return agent != nil && podReady(agent), nil
		})
		var rep struct {
			Args      []string
			Env       map[string]string
			Token     string
			Namespace string
			CA        bool
		}
		data, err := os.ReadFile(reportFile)
		if err != nil {
			t.Fatalf("the container wrote no report through its hostPath volume: %v", err)
		}
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatal(err)
		}
		addr := regexp.MustCompile(`^--http-address=127\.0\.0\.1:(\d+)$`)
		if !slices.ContainsFunc(rep.Args, addr.MatchString) || !slices.Contains(rep.Args, "--node="+n.name) {
			t.Errorf("args %q: want the address rewritten to a loopback port and $(NODE_NAME) expanded", rep.Args)
		}
		apiPort := strings.TrimPrefix(n.adminConfig.Host[strings.LastIndex(n.adminConfig.Host, ":"):], ":")
		for k, want := range map[string]string{
			"NODE_NAME": n.name, "POD_NAME": agent.Name, "POD_IP": agent.Status.PodIP, "COMPOSED": "hello-" + n.name,
			"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": apiPort,
		} {
			if rep.Env[k] != want {
				t.Errorf("env %s = %q, want %q", k, rep.Env[k], want)
			}
		}
		if rep.Namespace != "sim" || !rep.CA || rep.Token == "" {
			t.Errorf("service-account files: namespace %q, ca.crt %v, token %d bytes", rep.Namespace, rep.CA, len(rep.Token))
		}
		// The token is bound to the pod, so the API server names the node.
		review := selfSubjectReview(t, n.adminConfig, rep.Token)
		if review.Username != "system:serviceaccount:sim:plugin" ||
			!slices.Equal(review.Extra["authentication.kubernetes.io/node-name"], authenticationv1.ExtraValue{n.name}) ||
			!slices.Equal(review.Extra["authentication.kubernetes.io/pod-name"], authenticationv1.ExtraValue{agent.Name}) {
			t.Errorf("the token authenticates as %+v", review)
		}
		// The readiness probe reaches the container on the loopback port
		// standing in for its named port; so can anyone.
		var rec allocationRecord
		if err := json.Unmarshal([]byte(agent.Annotations[allocationAnnotation]), &rec); err != nil {
			t.Fatalf("allocation annotation: %v", err)
		}
		resp, err := http.Get("http://" + rec.Ports["plugin/metrics"] + "/readyz")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /readyz on %q: %v %v", rec.Ports["plugin/metrics"], resp, err)
		}
		resp.Body.Close()
	})

	t.Run("kubectl logs and exec reach the container through the API server", func(t *testing.T) {
		out, err := n.kubectl("logs", "-n", "sim", agent.Name)
		if err != nil || !strings.Contains(out, "fakeplugin started on node "+n.name) {
			t.Errorf("kubectl logs: %v\n%s", err, out)
		}
		// The command sees the container's volumes (/report is mounted in
		// its mount namespace only) and environment.
		out, err = n.kubectl("exec", "-n", "sim", agent.Name, "--", "/bin/sh", "-c",
			`echo hi && test -s /report/report.json && echo "$NODE_NAME"`)
		if err != nil || out != "hi\n"+n.name+"\n" {
			t.Errorf("kubectl exec: %v\n%q", err, out)
		}
		// Its exit status comes back too.
		if out, err := n.kubectl("exec", "-n", "sim", agent.Name, "--", "/bin/sh", "-c", "exit 7"); err == nil ||
			!strings.Contains(out, "command terminated with exit code 7") {
			t.Errorf("kubectl exec of a failing command: %v\n%s", err, out)
		}
	})

	t.Run("device plugin resources reach the Node's capacity", func(t *testing.T) {
		eventually(t, 30*time.Second, "allocatable example.com/widget=2", func() (bool, error) {
			return nodeResource(ctx, n, "allocatable", resourceName) == "2", nil
		})
	})

	t.Run("pods get distinct devices, listed by PodResources", func(t *testing.T) {
		for _, name := range []string{"a", "b", "c"} {
			mustCreate(t, func() error {
				_, err := n.admin.CoreV1().Pods("sim").Create(ctx, widgetPod(name, resourceName), metav1.CreateOptions{})
				return err
			})
		}
		held := map[string]string{}
		for _, name := range []string{"a", "b"} {
			var p *v1.Pod
			eventually(t, time.Minute, name+" Running with an allocation", func() (bool, error) {
				var err error
				p, err = n.admin.CoreV1().Pods("sim").Get(ctx, name, metav1.GetOptions{})
				return err == nil && podReady(p) && p.Annotations[allocationAnnotation] != "", err
			})
			var rec allocationRecord
			if err := json.Unmarshal([]byte(p.Annotations[allocationAnnotation]), &rec); err != nil {
				t.Fatal(err)
			}
			ids := rec.Containers[0].Devices[resourceName]
			if len(ids) != 1 || rec.Containers[0].Env["WIDGET_IDS"] != ids[0] {
				t.Fatalf("%s: %+v", name, rec.Containers[0])
			}
			if other, ok := held[ids[0]]; ok {
				t.Fatalf("%s and %s both hold %s", other, name, ids[0])
			}
			held[ids[0]] = name
		}
		// Two devices, both taken: the scheduler keeps the third pod off the node.
		c, err := n.admin.CoreV1().Pods("sim").Get(ctx, "c", metav1.GetOptions{})
		if err != nil || c.Spec.NodeName != "" {
			t.Fatalf("c was scheduled to %q (%v)", c.Spec.NodeName, err)
		}
		listed := podResources(t, n)
		for id, pod := range held {
			if listed[pod] != id {
				t.Errorf("PodResources lists %v, want %s holding %s", listed, pod, id)
			}
		}
		// Deleting a frees its device for c.
		if err := n.admin.CoreV1().Pods("sim").Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, "a is gone and c Running", func() (bool, error) {
			_, errA := n.admin.CoreV1().Pods("sim").Get(ctx, "a", metav1.GetOptions{})
			c, err := n.admin.CoreV1().Pods("sim").Get(ctx, "c", metav1.GetOptions{})
			return apierrors.IsNotFound(errA) && err == nil && podReady(c), err
		})
	})

	t.Run("after a kubelet restart the plugin registers again", func(t *testing.T) {
		before := registrations(t, n, resourceName)
		resp, err := http.Post("http://"+n.httpAddress(t)+"/restart", "", nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /restart: %v %v", resp, err)
		}
		resp.Body.Close()
		// The device manager deleted the plugin's socket; the kubelet's stub
		// plugin notices kubelet.sock come back and registers after 10 s.
		eventually(t, time.Minute, "a new registration", func() (bool, error) {
			return registrations(t, n, resourceName) > before, nil
		})
		eventually(t, 30*time.Second, "allocatable back at 2", func() (bool, error) {
			return nodeResource(ctx, n, "allocatable", resourceName) == "2", nil
		})
		for _, name := range []string{"b", "c"} {
			p, err := n.admin.CoreV1().Pods("sim").Get(ctx, name, metav1.GetOptions{})
			if err != nil || !podReady(p) {
				t.Errorf("%s is no longer Running after the restart: %v", name, err)
			}
		}
	})

	t.Run("a crashing container backs off", func(t *testing.T) {
		ds := fakePluginDaemonSet("crasher", "")
		ds.Spec.Template.Spec.Containers[0].Args = append(ds.Spec.Template.Spec.Containers[0].Args,
			"--exit-code=3", "--termination-message=boom: no devices")
		mustCreate(t, func() error {
			_, err := n.admin.AppsV1().DaemonSets("sim").Create(ctx, ds, metav1.CreateOptions{})
			return err
		})
		var sawBackOff bool
		var crasher *v1.Pod
		eventually(t, time.Minute, "two restarts with CrashLoopBackOff between", func() (bool, error) {
			p := daemonSetPod(ctx, n.admin, "crasher")
			if p == nil || len(p.Status.ContainerStatuses) == 0 {
				return false, nil
			}
			crasher = p
			s := p.Status.ContainerStatuses[0]
			if s.State.Waiting != nil && s.State.Waiting.Reason == "CrashLoopBackOff" {
				sawBackOff = true
				if podReady(p) || s.Ready {
					t.Errorf("Ready while in CrashLoopBackOff: %+v", p.Status.Conditions)
				}
			}
			last := s.LastTerminationState.Terminated
			return sawBackOff && s.RestartCount >= 2 && last != nil && last.ExitCode == 3 && p.Status.Phase == v1.PodRunning, nil
		})
		// What the kubelet reports: reason Error, and the message the
		// container wrote to its terminationMessagePath.
		last := crasher.Status.ContainerStatuses[0].LastTerminationState.Terminated
		if last.Reason != "Error" || last.Message != "boom: no devices" {
			t.Errorf("last termination: reason %q, message %q", last.Reason, last.Message)
		}
		out, err := n.kubectl("logs", "-n", "sim", crasher.Name, "--previous")
		if err != nil || !strings.Contains(out, "fakeplugin started on node "+n.name) {
			t.Errorf("kubectl logs --previous: %v\n%s", err, out)
		}
		if err := n.admin.AppsV1().DaemonSets("sim").Delete(ctx, "crasher", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("deleting the pod stops its process gracefully", func(t *testing.T) {
		if err := n.admin.AppsV1().DaemonSets("sim").Delete(ctx, "widgets", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, "the widgets pod is gone", func() (bool, error) {
			_, err := n.admin.CoreV1().Pods("sim").Get(ctx, agent.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if _, err := os.Stat(filepath.Join(n.root, "srv/widgets/terminated")); err != nil {
			t.Errorf("the container saw no SIGTERM: %v", err)
		}
		eventually(t, 30*time.Second, "no allocatable widgets once the plugin is gone", func() (bool, error) {
			return nodeResource(ctx, n, "allocatable", resourceName) == "0", nil
		})
	})

	t.Run("SIGTERM stops the node and leaves it NotReady", func(t *testing.T) {
		n.stop(t)
		node, err := n.admin.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range node.Status.Conditions {
			if c.Type == v1.NodeReady && c.Status != v1.ConditionFalse {
				t.Errorf("Ready is %s", c.Status)
			}
		}
		if pids := processesOf(filepath.Join(n.dir, "images", "fakeplugin")); len(pids) > 0 {
			t.Errorf("container processes still run: %v", pids)
		}
	})
}

func startSimNode(t *testing.T) *simNode {
	t.Helper()
	dir := t.TempDir()
	n := &simNode{name: "sim-node", root: filepath.Join(dir, "node"), dir: dir, exited: make(chan error, 1)}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "images")+"/", "./testdata/fakeplugin", "./testdata/fakedriver")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building fakeplugin and fakedriver: %v\n%s", err, out)
	}
	build = exec.Command("go", "build", "-o", filepath.Join(dir, "sim-kubelet"), ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building sim-kubelet: %v\n%s", err, out)
	}
	clusterDir := filepath.Join(dir, "cluster")
	tool := func(args ...string) {
		t.Helper()
		out, err := exec.Command("../../bin/cluster", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("cluster %s: %v\n%s", args[0], err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("../../bin/cluster", "down", clusterDir).Run() })
	tool("up", clusterDir)
	binDir, err := exec.Command("../../bin/cluster", "bin-dir").Output()
	if err != nil {
		t.Fatalf("cluster bin-dir: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(binDir)), "\n")
	n.bin = lines[len(lines)-1]
	admin := filepath.Join(clusterDir, "admin.kubeconfig")
	if n.adminConfig, err = clientcmd.BuildConfigFromFlags("", admin); err != nil {
		t.Fatal(err)
	}
	n.admin = kubernetes.NewForConfigOrDie(n.adminConfig)
	kubeconfig := filepath.Join(dir, "node.kubeconfig")
	tool("node-kubeconfig", clusterDir, n.name, "--out", kubeconfig)

	log, err := os.Create(filepath.Join(dir, "sim-kubelet.log"))
	if err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(filepath.Join(dir, "sim-kubelet"), "--node-name="+n.name, "--root="+n.root,
		"--kubeconfig="+kubeconfig, "--recorder-kubeconfig="+admin, "--node-labels=example.com/role=widgets",
		"--image-bin-dir="+filepath.Join(dir, "images"), "--max-probe-period=1s", "--crash-backoff=1s",
		"--max-crash-backoff=2s", "--v=2")
	n.cmd.Stdout, n.cmd.Stderr = log, log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.exited <- n.cmd.Wait() }()
	t.Cleanup(func() {
		n.stop(t)
		if t.Failed() {
			data, _ := os.ReadFile(log.Name())
			lines := strings.Split(string(data), "\n")
			t.Logf("last lines of sim-kubelet's log:\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
	})
	eventually(t, time.Minute, "the node is Ready", func() (bool, error) {
		node, err := n.admin.CoreV1().Nodes().Get(t.Context(), n.name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == v1.NodeReady && c.Status == v1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	return n
}

// kubectl runs the cluster's kubectl as admin and returns its combined
// output.
func (n *simNode) kubectl(args ...string) (string, error) {
	out, err := exec.Command(filepath.Join(n.bin, "kubectl"),
		append([]string{"--kubeconfig", filepath.Join(n.dir, "cluster", "admin.kubeconfig")}, args...)...).CombinedOutput()
	return string(out), err
}

// stop sends SIGTERM and waits for a clean exit; harmless once stopped.
func (n *simNode) stop(t *testing.T) {
	t.Helper()
	if n.cmd.ProcessState != nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-n.exited:
		if err != nil {
			t.Errorf("sim-kubelet exited with %v", err)
		}
	case <-time.After(time.Minute):
		_ = n.cmd.Process.Kill()
		t.Errorf("sim-kubelet did not stop within a minute of SIGTERM")
		<-n.exited
	}
}

func (n *simNode) httpAddress(t *testing.T) string {
	t.Helper()
	node, err := n.admin.CoreV1().Nodes().Get(t.Context(), n.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)))
}

// fakePluginDaemonSet runs testdata/fakeplugin on every node; with a
// resource name it also serves that resource as a device plugin.
func fakePluginDaemonSet(name, resourceName string) *appsv1.DaemonSet {
	labels := map[string]string{"app": name}
	dirOrCreate := v1.HostPathDirectoryOrCreate
	field := func(path string) *v1.EnvVarSource {
		return &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}
	}
	args := []string{"--http-address=:8080", "--report=/report/report.json", "--node=$(NODE_NAME)"}
	if resourceName != "" {
		args = append(args, "--resource="+resourceName)
	}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: v1.PodSpec{
					ServiceAccountName: "plugin",
					Containers: []v1.Container{{
						Name:    "plugin",
						Image:   "example.com/fakeplugin:test",
						Command: []string{"/opt/bin/fakeplugin"},
						Args:    args,
						Env: []v1.EnvVar{
							{Name: "NODE_NAME", ValueFrom: field("spec.nodeName")},
							{Name: "POD_NAME", ValueFrom: field("metadata.name")},
							{Name: "POD_IP", ValueFrom: field("status.podIP")},
							{Name: "GREETING", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{
								LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}, Key: "greeting"}}},
							{Name: "COMPOSED", Value: "$(GREETING)-$(NODE_NAME)"},
						},
						Ports: []v1.ContainerPort{{Name: "metrics", ContainerPort: 8080}},
						ReadinessProbe: &v1.Probe{
							ProbeHandler:  v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("metrics")}},
							PeriodSeconds: 10,
						},
						VolumeMounts: []v1.VolumeMount{
							{Name: "device-plugins", MountPath: "/var/lib/kubelet/device-plugins"},
							{Name: "report", MountPath: "/report"},
						},
					}},
					Volumes: []v1.Volume{
						{Name: "device-plugins", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{
							Path: "/var/lib/kubelet/device-plugins", Type: &dirOrCreate}}},
						{Name: "report", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{
							Path: "/srv/" + name, Type: &dirOrCreate}}},
					},
				},
			},
		},
	}
}

func widgetPod(name, resourceName string) *v1.Pod {
	one := resource.MustParse("1")
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PodSpec{Containers: []v1.Container{{
			Name: "app", Image: "example.com/app:1",
			Resources: v1.ResourceRequirements{Limits: v1.ResourceList{v1.ResourceName(resourceName): one}},
		}}},
	}
}

func daemonSetPod(ctx context.Context, cs *kubernetes.Clientset, app string) *v1.Pod {
	pods, err := cs.CoreV1().Pods("sim").List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return nil
	}
	for i := range pods.Items {
		if pods.Items[i].DeletionTimestamp == nil {
			return &pods.Items[i]
		}
	}
	return nil
}

func podReady(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue && p.Status.Phase == v1.PodRunning
		}
	}
	return false
}

func nodeResource(ctx context.Context, n *simNode, which string, name v1.ResourceName) string {
	node, err := n.admin.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	list := node.Status.Allocatable
	if which == "capacity" {
		list = node.Status.Capacity
	}
	q, ok := list[name]
	if !ok {
		return ""
	}
	return q.String()
}

func selfSubjectReview(t *testing.T, admin *rest.Config, token string) authenticationv1.UserInfo {
	t.Helper()
	cfg := rest.AnonymousClientConfig(admin)
	cfg.BearerToken = token
	review, err := kubernetes.NewForConfigOrDie(cfg).AuthenticationV1().SelfSubjectReviews().Create(
		t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview with the pod's token: %v", err)
	}
	return review.Status.UserInfo
}

// podResources lists, through the node's PodResources socket, the widget
// each pod holds.
func podResources(t *testing.T, n *simNode) map[string]string {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+filepath.Join(n.root, "var/lib/kubelet/pod-resources/kubelet.sock"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := podresourcesapi.NewPodResourcesListerClient(conn).List(t.Context(), &podresourcesapi.ListPodResourcesRequest{})
	if err != nil {
		t.Fatalf("PodResources List: %v", err)
	}
	out := map[string]string{}
	for _, p := range resp.PodResources {
		for _, c := range p.Containers {
			for _, d := range c.Devices {
				out[p.Name] = strings.Join(d.DeviceIds, ",")
			}
		}
	}
	return out
}

func registrations(t *testing.T, n *simNode, resourceName string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + n.httpAddress(t) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	want := fmt.Sprintf(`kubelet_device_plugin_registration_total{resource_name=%q} `, resourceName)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), want); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return 0
}

// processesOf lists the pids running the binary at path.
func processesOf(path string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == path {
			pids = append(pids, pid)
		}
	}
	return pids
}

func mustCreate(t *testing.T, create func() error) {
	t.Helper()
	if err := create(); err != nil {
		t.Fatal(err)
	}
}

// eventually is the module's shared bounded wait-until.
var eventually = testutil.Eventually
