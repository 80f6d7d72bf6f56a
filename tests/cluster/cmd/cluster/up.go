package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"hashfoundry.com/device-operator/tests/cluster/internal/proc"
)

// Component names double as binary names in the bin directory and as log file
// names.
const (
	etcd              = "etcd"
	apiserver         = "kube-apiserver"
	controllerManager = "kube-controller-manager"
	scheduler         = "kube-scheduler"
)

const (
	// Only configuration: nothing in this range is ever contacted, but the
	// apiserver allocates the "kubernetes" Service's ClusterIP from it (see
	// firstServiceIP in pki.go).
	serviceCIDR = "10.96.0.0/16"

	// The issuer a kubeadm cluster uses, so that projected tokens look like
	// the ones the operator will meet in production.
	serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

	// The plugins a production cluster runs, so that the operator's chart is
	// tested against the same admission chain (ValidatingAdmissionPolicy in
	// particular). Default-on plugins not listed here stay on.
	admissionPlugins = "NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass," +
		"DefaultTolerationSeconds,NodeRestriction,MutatingAdmissionWebhook,ValidatingAdmissionWebhook," +
		"ValidatingAdmissionPolicy,ResourceQuota,Priority"
)

// errAlreadyRunning gets its own exit status so scripts can tell "there is a
// cluster" apart from "the cluster failed to start".
var errAlreadyRunning = errors.New("cluster already running")

func cmdUp(args []string) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	var apiserverArgs stringList
	fs.Var(&apiserverArgs, "apiserver-arg", "extra kube-apiserver flag, e.g. --apiserver-arg=--watch-cache=false (repeatable; later flags win)")
	timeout := fs.Duration("timeout", 3*time.Minute, "how long to wait for the cluster to become ready")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("usage: cluster up DIR [--apiserver-arg=FLAG ...] [--timeout=3m]")
	}
	l, err := newLayout(pos[0])
	if err != nil {
		return err
	}
	bin, err := binDir()
	if err != nil {
		return err
	}
	// Every path in the env file derives from these two; checked now rather
	// than after a whole startup.
	for _, p := range []string{l.dir, bin} {
		if !shellSafe.MatchString(p) {
			return fmt.Errorf("%q would need quoting in %s; use a path without spaces or shell metacharacters", p, l.env())
		}
	}
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return err
	}
	recorded, err := proc.Read(l.pids())
	if err != nil {
		return err
	}
	if running := proc.Running(recorded); len(running) > 0 {
		return fmt.Errorf("%w in %s (%s); run `cluster down %s` first", errAlreadyRunning, l.dir, describe(running), l.dir)
	}
	// What is left of a stopped cluster would only confuse a new one: etcd's
	// member data names the old peer port, and old logs would mix with new.
	for _, p := range l.owned() {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	for _, d := range []string{l.pki(), l.logs()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}

	// A test run or the user pressing ^C must not leave half a cluster behind.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	started := time.Now()
	cp := &controlPlane{layout: l, bin: bin, exited: make(chan string, 4)}
	if err := cp.start(ctx, apiserverArgs); err != nil {
		fmt.Fprintf(os.Stderr, "cluster up: %v\n", err)
		// After a signal the logs explain nothing; otherwise the failing
		// component's last words usually do.
		if failed := cp.blame(err); failed != "" && !errors.Is(err, context.Canceled) {
			printLogTail(l.logFile(failed), 40)
		}
		fmt.Fprintln(os.Stderr, "cluster up: stopping what was started")
		return errors.Join(errors.New("cluster did not become ready"), stopProcesses(cp.procs))
	}
	if err := writeEnv(l.env(), [][2]string{
		{"KUBECONFIG", l.adminKubeconfig()},
		{"HF_APISERVER", cp.apiserverURL},
		{"HF_CLUSTER_DIR", l.dir},
		{"HF_CLUSTER_BIN", bin},
		{"HF_KUBECTL", filepath.Join(bin, "kubectl")},
		{"HF_CA_FILE", cp.pki.caCert},
		{"HF_ADMIN_CERT_FILE", cp.pki.adminCert},
		{"HF_ADMIN_KEY_FILE", cp.pki.adminKey},
		{"HF_ETCD", cp.etcdURL},
	}); err != nil {
		// The cluster works but nobody could find it: better not to leave it.
		_ = stopProcesses(cp.procs)
		return err
	}
	fmt.Fprintf(os.Stderr, "cluster up: ready in %.1fs at %s; KUBECONFIG=%s, settings in %s\n",
		time.Since(started).Seconds(), cp.apiserverURL, l.adminKubeconfig(), l.env())
	return nil
}

// controlPlane carries what `up` learns while it starts the components.
type controlPlane struct {
	layout layout
	bin    string

	procs  []proc.Process
	exited chan string // names of components that exited; room for all four, so no waiter blocks

	// phase names the component whose progress is awaited, so that a timeout
	// can point at the log that explains it; empty before any is started.
	phase string

	apiserverURL, etcdURL string
	pki                   clusterPKI
}

// blame names the component whose log explains a failed start.
func (cp *controlPlane) blame(err error) string {
	var exit *componentExited
	if errors.As(err, &exit) {
		return exit.name
	}
	return cp.phase
}

type componentExited struct{ name string }

func (e *componentExited) Error() string { return e.name + " exited during startup" }

func (cp *controlPlane) start(ctx context.Context, apiserverArgs []string) error {
	l := cp.layout
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	cp.etcdURL = "http://127.0.0.1:" + strconv.Itoa(ports[0])
	etcdPeerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	apiserverPort := ports[2]
	cp.apiserverURL = "https://127.0.0.1:" + strconv.Itoa(apiserverPort)

	pki, err := writeClusterPKI(l, cp.apiserverURL)
	if err != nil {
		return err
	}
	cp.pki = pki

	cp.phase = etcd
	if err := cp.run(etcd,
		"--name=hf",
		"--data-dir="+l.etcdData(),
		"--listen-client-urls="+cp.etcdURL,
		"--advertise-client-urls="+cp.etcdURL,
		"--listen-peer-urls="+etcdPeerURL,
		"--initial-advertise-peer-urls="+etcdPeerURL,
		"--initial-cluster=hf="+etcdPeerURL,
		// The data lives as long as one test run, and fsync latency on a
		// busy CI disk would slow every write the tests make.
		"--unsafe-no-fsync",
	); err != nil {
		return err
	}
	// Waiting here rather than letting the apiserver retry keeps an etcd
	// failure from surfacing as an apiserver timeout with the wrong log.
	etcdHealth := cp.etcdURL + "/health"
	if err := cp.waitFor(ctx, func(ctx context.Context) bool { return etcdHealthy(ctx, etcdHealth) }); err != nil {
		return fmt.Errorf("waiting for %s: %w", etcdHealth, err)
	}

	cp.phase = apiserver
	args := []string{
		"--etcd-servers=" + cp.etcdURL,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiserverPort),
		"--advertise-address=127.0.0.1",
		"--tls-cert-file=" + pki.servingCert,
		"--tls-private-key-file=" + pki.servingKey,
		"--client-ca-file=" + pki.caCert,
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=" + serviceAccountIssuer,
		"--service-account-key-file=" + pki.saPublicKey,
		"--service-account-signing-key-file=" + pki.saKey,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--enable-admission-plugins=" + admissionPlugins,
		"--allow-privileged=true",
		// Endpoints may not hold loopback addresses, so reconciling the
		// "kubernetes" Service's endpoints to 127.0.0.1 fails on every
		// resync; nothing could reach them through the Service IP anyway.
		"--endpoint-reconciler-type=none",
		// Logs and exec go to the node's kubelet API: every (simulated)
		// node is at 127.0.0.1 on a port of its own, and has no resolvable
		// host name. Its serving certificate is issued by the cluster CA
		// (the kubelet-serving signer), so the apiserver verifies it.
		"--kubelet-preferred-address-types=InternalIP,Hostname,InternalDNS,ExternalDNS,ExternalIP",
		"--kubelet-certificate-authority=" + pki.caCert,
		"--kubelet-client-certificate=" + pki.kubeletClientCert,
		"--kubelet-client-key=" + pki.kubeletClientKey,
	}
	if err := cp.run(apiserver, append(args, apiserverArgs...)...); err != nil {
		return err
	}
	admin, err := clientFor(l.adminKubeconfig())
	if err != nil {
		return err
	}
	if err := cp.waitFor(ctx, func(ctx context.Context) bool {
		body, err := admin.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && strings.TrimSpace(string(body)) == "ok"
	}); err != nil {
		return fmt.Errorf("waiting for %s /readyz: %w", apiserver, err)
	}
	if err := bindKubeletClient(ctx, admin); err != nil {
		return err
	}

	// The controller manager exits if the apiserver is not healthy within
	// ten seconds of its start, which a loaded CI machine can exceed, so it
	// and the scheduler start only now. Neither serves anything
	// (--secure-port=0): nothing here probes them, and a fixed default port
	// would collide between parallel clusters.
	cp.phase = controllerManager
	if err := cp.run(controllerManager,
		"--kubeconfig="+l.kubeconfig(controllerManager),
		"--secure-port=0",
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+pki.saKey,
		"--root-ca-file="+pki.caCert,
		"--cluster-signing-cert-file="+pki.caCert,
		"--cluster-signing-key-file="+pki.caKey,
		"--service-cluster-ip-range="+serviceCIDR,
		// Otherwise it creates /usr/libexec/kubernetes/... on the host.
		"--flex-volume-plugin-dir="+l.flexVolume(),
	); err != nil {
		return err
	}
	if err := cp.run(scheduler,
		"--kubeconfig="+l.kubeconfig(scheduler),
		"--secure-port=0",
		"--leader-elect=false",
	); err != nil {
		return err
	}
	// The serviceaccount controller creating "default" proves the controller
	// manager is connected, authorised and running its controllers.
	if err := cp.waitFor(ctx, func(ctx context.Context) bool {
		_, err := admin.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	}); err != nil {
		return fmt.Errorf("waiting for the default ServiceAccount: %w", err)
	}
	return nil
}

// run starts one component detached from `up`: in its own session, so that
// neither a terminal's ^C nor the end of `up` reaches it, with its output in
// its own log file.
func (cp *controlPlane) run(name string, args ...string) error {
	cmd, p, err := launch(cp.layout, name, append([]string{filepath.Join(cp.bin, name)}, args...), os.O_TRUNC)
	if err != nil {
		return err
	}
	cp.procs = append(cp.procs, p)
	go func() {
		_ = cmd.Wait()
		cp.exited <- name
	}()
	return nil
}

// launch starts argv as component name in its own session, in DIR, with its
// output in the component's log (truncated or appended to, by logMode), and
// records it at once in the pids file, so that `cluster down` can end it even
// if the caller is killed right after. The caller must Wait for cmd.
func launch(l layout, name string, argv []string, logMode int) (*exec.Cmd, proc.Process, error) {
	logFile, err := os.OpenFile(l.logFile(name), os.O_WRONLY|os.O_CREATE|logMode, 0o644)
	if err != nil {
		return nil, proc.Process{}, err
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = l.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, proc.Process{}, err
	}
	// The child cannot vanish before its Wait reaps it, so its /proc entry
	// is still there to read the start time from.
	p, err := proc.Identify(name, cmd.Process.Pid)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, proc.Process{}, err
	}
	return cmd, p, proc.Append(l.pids(), p)
}

// waitFor polls ready until it holds, a component exits, or ctx ends.
func (cp *controlPlane) waitFor(ctx context.Context, ready func(context.Context) bool) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok := ready(attempt)
		cancel()
		if ok {
			return nil
		}
		select {
		case name := <-cp.exited:
			return &componentExited{name: name}
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// bindKubeletClient lets the apiserver's kubelet client identity use the
// kubelet API (nodes/proxy, nodes/log, ...), which kubelets authorise by
// SubjectAccessReview.
func bindKubeletClient(ctx context.Context, admin kubernetes.Interface) error {
	_, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: kubeletClientUser},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:kubelet-api-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: kubeletClientUser}},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("binding %s to system:kubelet-api-admin: %w", kubeletClientUser, err)
	}
	return nil
}

func etcdHealthy(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var health struct {
		Health string `json:"health"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&health) == nil && health.Health == "true"
}

// freePorts asks the kernel for n distinct free loopback ports. They are held
// open together so that no two are the same, then released for the
// components; the window in which another process could take one is short.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, ln := range listeners {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func clientFor(kubeconfig string) (*kubernetes.Clientset, error) {
	cfg, err := restConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

func describe(procs []proc.Process) string {
	var parts []string
	for _, p := range procs {
		parts = append(parts, fmt.Sprintf("%s pid %d", p.Name, p.PID))
	}
	return strings.Join(parts, ", ")
}
