package cluster_test

import (
	"bufio"
	"bytes"
	"errors"
	"hashfoundry.com/device-operator/tests/cluster/internal/testutil"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"hashfoundry.com/device-operator/tests/cluster/internal/proc"
)

// TestCluster drives bin/cluster the way the C++ tests and the demo will: it
// starts a control plane, checks that each part of it really works, and checks
// that `down` leaves nothing running.
//
// The first run builds the control plane (several minutes); give `go test` a
// -timeout to match, or run hack/build.sh first.
func TestCluster(t *testing.T) {
	if os.Getenv("HF_SKIP_CLUSTER") == "1" {
		t.Skip("HF_SKIP_CLUSTER=1")
	}
	dir := t.TempDir()
	// Registered after TempDir, so it runs before the directory is removed:
	// a failing test must not leave a control plane behind.
	t.Cleanup(func() { cluster(t, "down", dir) })

	cluster(t, "up", dir, "--apiserver-arg=--watch-cache=false")
	env := readEnv(t, filepath.Join(dir, "env"))
	admin := clientFor(t, env["KUBECONFIG"])

	t.Run("readyz", func(t *testing.T) {
		body, err := admin.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(t.Context())
		if err != nil || string(body) != "ok" {
			t.Fatalf("/readyz = %q, %v", body, err)
		}
	})

	t.Run("apiserver args pass through", func(t *testing.T) {
		apiserver := recorded(t, dir, "kube-apiserver")
		cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(apiserver.PID), "cmdline"))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(strings.Split(string(cmdline), "\x00"), "--watch-cache=false") {
			t.Fatalf("kube-apiserver command line lacks --watch-cache=false: %q", cmdline)
		}
	})

	t.Run("second up reports the running cluster", func(t *testing.T) {
		out, err := run("up", dir)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 3 || !strings.Contains(out, "already running") {
			t.Fatalf("second up: %v\n%s", err, out)
		}
	})

	t.Run("namespace controller deletes namespaces", func(t *testing.T) {
		ctx := t.Context()
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "hf-lifecycle"}}
		if _, err := admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := admin.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// Deletion only marks the namespace Terminating; it disappears once
		// the namespace controller has emptied it and removed its finalizer.
		eventually(t, time.Minute, "namespace "+ns.Name+" is gone", func() (bool, error) {
			_, err := admin.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), err
		})
	})

	t.Run("ValidatingAdmissionPolicy is enforced", func(t *testing.T) {
		ctx := t.Context()
		policy := &admissionv1.ValidatingAdmissionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "hf-deny-labelled-configmaps"},
			Spec: admissionv1.ValidatingAdmissionPolicySpec{
				MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionv1.RuleWithOperations{
						Operations: []admissionv1.OperationType{admissionv1.Create},
						Rule: admissionv1.Rule{
							APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"},
						},
					},
				}}},
				Validations: []admissionv1.Validation{{
					Expression: `!has(object.metadata.labels) || !('hf-deny' in object.metadata.labels)`,
					Message:    "hf-deny policy",
				}},
				FailurePolicy: ptr(admissionv1.Fail),
			},
		}
		if _, err := admin.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		binding := &admissionv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: policy.Name},
			Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
				PolicyName:        policy.Name,
				ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			},
		}
		if _, err := admin.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The policy takes effect once the apiserver's informers have seen
		// and compiled it. Dry runs pass through admission but store
		// nothing, so attempts made before that leave no ConfigMap behind.
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			Name: "denied", Namespace: metav1.NamespaceDefault, Labels: map[string]string{"hf-deny": "yes"},
		}}
		eventually(t, time.Minute, "labelled ConfigMap is denied", func() (bool, error) {
			_, err := admin.CoreV1().ConfigMaps(cm.Namespace).Create(ctx, cm, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			return err != nil && strings.Contains(err.Error(), "hf-deny policy"), err
		})
	})

	t.Run("ServiceAccount kubeconfig carries only its RBAC", func(t *testing.T) {
		ctx := t.Context()
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "hf-rbac"}}
		if _, err := admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns.Name}}
		if _, err := admin.CoreV1().ServiceAccounts(ns.Name).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		kubeconfig := filepath.Join(dir, "probe.kubeconfig")
		cluster(t, "sa-kubeconfig", dir, "--namespace", ns.Name, "--serviceaccount", sa.Name, "--out", kubeconfig)
		probe := clientFor(t, kubeconfig)

		expectUser(t, probe, "system:serviceaccount:hf-rbac:probe", "system:serviceaccounts:hf-rbac")
		_, err := probe.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("ServiceAccount listing nodes: got %v, want Forbidden", err)
		}
		if _, err := admin.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
			t.Fatalf("admin listing nodes: %v", err)
		}
	})

	t.Run("node kubeconfig authenticates as the node", func(t *testing.T) {
		kubeconfig := filepath.Join(dir, "node-a.kubeconfig")
		cluster(t, "node-kubeconfig", dir, "node-a", "--out", kubeconfig)
		expectUser(t, clientFor(t, kubeconfig), "system:node:node-a", "system:nodes")
	})

	t.Run("down ends every process and frees the port", func(t *testing.T) {
		procs, err := proc.Read(filepath.Join(dir, "pids"))
		if err != nil || len(procs) != 4 {
			t.Fatalf("recorded processes: %v, %v", procs, err)
		}
		apiserverURL, err := url.Parse(env["HF_APISERVER"])
		if err != nil {
			t.Fatal(err)
		}
		cluster(t, "down", dir)
		// `down` returns only after every process is gone, so no waiting.
		if running := proc.Running(procs); len(running) > 0 {
			t.Fatalf("still running after down: %v", running)
		}
		if conn, err := net.DialTimeout("tcp", apiserverURL.Host, time.Second); err == nil {
			conn.Close()
			t.Fatalf("%s still accepts connections after down", apiserverURL.Host)
		}
		cluster(t, "down", dir) // idempotent
	})
}

// cluster runs bin/cluster and fails the test if it fails.
func cluster(t *testing.T, args ...string) {
	t.Helper()
	out, err := run(args...)
	t.Logf("bin/cluster %s\n%s", strings.Join(args, " "), out)
	if err != nil {
		t.Fatalf("bin/cluster %s: %v", strings.Join(args, " "), err)
	}
}

func run(args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command("bin/cluster", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// eventually is the module's shared bounded wait-until.
var eventually = testutil.Eventually

func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			t.Fatalf("%s: malformed line %q", path, sc.Text())
		}
		env[key] = value
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"KUBECONFIG", "HF_APISERVER", "HF_CLUSTER_BIN"} {
		if env[key] == "" {
			t.Fatalf("%s: no %s", path, key)
		}
	}
	return env
}

func clientFor(t *testing.T, kubeconfig string) *kubernetes.Clientset {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// expectUser checks who the apiserver takes the client to be.
func expectUser(t *testing.T, cs *kubernetes.Clientset, user, group string) {
	t.Helper()
	review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	info := review.Status.UserInfo
	if info.Username != user || !slices.Contains(info.Groups, group) {
		t.Fatalf("authenticated as %q %v, want %q in %q", info.Username, info.Groups, user, group)
	}
}

func recorded(t *testing.T, dir, name string) proc.Process {
	t.Helper()
	procs, err := proc.Read(filepath.Join(dir, "pids"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no %s in %s/pids", name, dir)
	return proc.Process{}
}

func ptr[T any](v T) *T { return &v }
