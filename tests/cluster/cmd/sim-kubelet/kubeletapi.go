package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	cadvisorapi "github.com/google/cadvisor/info/v1"
	cadvisorv2 "github.com/google/cadvisor/info/v2"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/client-go/util/certificate"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	kubeletconfig "k8s.io/kubernetes/pkg/kubelet/apis/config"
	"k8s.io/kubernetes/pkg/kubelet/cm"
	kubecontainer "k8s.io/kubernetes/pkg/kubelet/container"
	"k8s.io/kubernetes/pkg/kubelet/server"
	"k8s.io/kubernetes/pkg/kubelet/server/stats"
	"k8s.io/kubernetes/pkg/volume"
	utilexec "k8s.io/utils/exec"
)

// errNotSimulated answers the kubelet API's questions that need a container
// runtime or cAdvisor (stats, attach, port-forward, checkpoints).
var errNotSimulated = errors.New("not simulated by sim-kubelet")

// kubeletAPI is the kubelet's authenticated API, served with the kubelet's
// own server (k8s.io/kubernetes/pkg/kubelet/server): its routes
// (/containerLogs, /exec, /run, /pods, ...), client-certificate
// authentication against the cluster CA, authorisation of every request by
// a SubjectAccessReview, and exec streams through the CRI streaming server
// (k8s.io/cri-streaming), to which it proxies as with a real runtime.
type kubeletAPI struct {
	handler   http.Handler
	tlsConfig *tls.Config
	stop      func()
}

func newKubeletAPI(ctx context.Context, k *kubelet, pods *podManager, caPEM []byte, certs certificate.Manager) (*kubeletAPI, error) {
	clientCA, err := dynamiccertificates.NewStaticCAContent("client-ca", caPEM)
	if err != nil {
		return nil, fmt.Errorf("client CA: %w", err)
	}
	// The kubelet's defaults (KubeletConfiguration's authentication and
	// authorization): no anonymous requests, bearer tokens by
	// TokenReview, decisions by SubjectAccessReview, cached.
	authn, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:                          &apiserver.AnonymousAuthConfig{Enabled: false},
		CacheTTL:                           2 * time.Minute,
		ClientCertificateCAContentProvider: clientCA,
		TokenAccessReviewClient:            k.client.AuthenticationV1(),
		WebhookRetryBackoff:                genericoptions.DefaultAuthWebhookRetryBackoff(),
	}.New()
	if err != nil {
		return nil, err
	}
	authz, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: k.client.AuthorizationV1(),
		AllowCacheTTL:             5 * time.Minute,
		DenyCacheTTL:              30 * time.Second,
		WebhookRetryBackoff:       genericoptions.DefaultAuthWebhookRetryBackoff(),
	}.New()
	if err != nil {
		return nil, err
	}
	auth := server.NewKubeletAuth(authn, server.NewNodeAuthorizerAttributesGetter(types.NodeName(k.o.nodeName)), authz, clientCA)

	// The streaming server listens on loopback in plain HTTP, as
	// container runtimes' do; only the kubelet server reaches it.
	streamLn, err := net.Listen("tcp", loopback+":0")
	if err != nil {
		return nil, err
	}
	cfg := streaming.DefaultConfig
	cfg.Addr = streamLn.Addr().String()
	cfg.BaseURL = &url.URL{Scheme: "http", Host: cfg.Addr}
	streamer, err := streaming.NewServer(cfg, execRuntime{pods: pods})
	if err != nil {
		streamLn.Close()
		return nil, err
	}
	streamSrv := &http.Server{Handler: streamer, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = streamSrv.Serve(streamLn) }()

	host := &kubeletHost{k: k, pods: pods, streamer: streamer}
	// Debugging handlers on (exec, logs, run, as with the kubelet's
	// defaults); the node log viewer and profiling off.
	kubeCfg := &kubeletconfig.KubeletConfiguration{EnableDebuggingHandlers: true}
	// Never started: the summary API it would feed needs cAdvisor.
	analyzer := stats.NewResourceAnalyzer(ctx, host, time.Minute, k.events)
	srv := server.NewServer(ctx, host, analyzer, nil, nil, auth, kubeCfg)
	return &kubeletAPI{
		handler: &srv,
		// As the kubelet's: the client certificate is asked for, and
		// verified by the authenticator above.
		tlsConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			ClientAuth: tls.RequestClientCert,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				if c := certs.Current(); c != nil {
					return c, nil
				}
				return nil, errors.New("no serving certificate available for the kubelet")
			},
		},
		stop: func() { _ = streamSrv.Close() },
	}, nil
}

// kubeletHost is the kubelet server's HostInterface: logs, exec and run for
// pods run as processes; the rest needs a runtime or cAdvisor.
type kubeletHost struct {
	k        *kubelet
	pods     *podManager
	streamer streaming.Server
}

func (h *kubeletHost) GetKubeletContainerLogs(ctx context.Context, podFullName, containerName string, opts *v1.PodLogOptions, stdout, stderr io.Writer) error {
	c, err := h.pods.processContainerOf(podFullName, containerName)
	if err != nil {
		return err
	}
	path, exited, err := c.logOf(opts.Previous, podFullName)
	if err != nil {
		return err
	}
	// stdout and stderr share one file: a request for either stream gets
	// both.
	w := stdout
	if w == nil {
		w = stderr
	}
	return writeLogs(ctx, path, opts, w, exited)
}

// runningInstanceOf is the running instance of a pod's process container,
// which exec and run need.
func (h *kubeletHost) runningInstanceOf(podFullName, containerName string) (*instance, error) {
	c, err := h.pods.processContainerOf(podFullName, containerName)
	if err != nil {
		return nil, err
	}
	inst := c.runningInstance()
	if inst == nil {
		return nil, fmt.Errorf("container %q in pod %s is not running", containerName, podFullName)
	}
	return inst, nil
}

func (h *kubeletHost) GetExec(_ context.Context, podFullName string, _ types.UID, containerName string, cmd []string, opts remotecommandserver.Options) (*url.URL, error) {
	inst, err := h.runningInstanceOf(podFullName, containerName)
	if err != nil {
		return nil, err
	}
	resp, err := h.streamer.GetExec(&runtimeapi.ExecRequest{
		ContainerId: inst.id, Cmd: cmd, Tty: opts.TTY, Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr,
	})
	if err != nil {
		return nil, err
	}
	return url.Parse(resp.Url)
}

func (h *kubeletHost) RunInContainer(ctx context.Context, podFullName string, _ types.UID, containerName string, cmd []string) ([]byte, error) {
	inst, err := h.runningInstanceOf(podFullName, containerName)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	err = runInContainer(ctx, inst, cmd, nil, &out, &out)
	return out.Bytes(), err
}

func (h *kubeletHost) GetRunningPods(context.Context) ([]*v1.Pod, error) {
	return h.pods.activePods(), nil
}
func (h *kubeletHost) SyncLoopHealthCheck(*http.Request) error { return nil }
func (h *kubeletHost) GetPodByName(namespace, name string) (*v1.Pod, bool) {
	return h.pods.GetPodByName(namespace, name)
}
func (h *kubeletHost) GetPods() []*v1.Pod { return h.pods.GetPods() }
func (h *kubeletHost) GetNode(ctx context.Context) (*v1.Node, error) {
	return h.k.client.CoreV1().Nodes().Get(ctx, h.k.o.nodeName, metav1.GetOptions{})
}

func (h *kubeletHost) ServeLogs(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "node logs: "+errNotSimulated.Error(), http.StatusNotImplemented)
}
func (h *kubeletHost) GetAttach(context.Context, string, types.UID, string, remotecommandserver.Options) (*url.URL, error) {
	return nil, fmt.Errorf("attach: %w", errNotSimulated)
}
func (h *kubeletHost) GetPortForward(context.Context, string, string, types.UID, portforward.V4Options) (*url.URL, error) {
	return nil, fmt.Errorf("port-forward: %w", errNotSimulated)
}
func (h *kubeletHost) CheckpointContainer(context.Context, types.UID, string, string, *runtimeapi.CheckpointContainerRequest) error {
	return errNotSimulated
}
func (h *kubeletHost) GetVersionInfo() (*cadvisorapi.VersionInfo, error) { return nil, errNotSimulated }
func (h *kubeletHost) GetCachedMachineInfo() (*cadvisorapi.MachineInfo, error) {
	return nil, errNotSimulated
}
func (h *kubeletHost) ListMetricDescriptors(context.Context) ([]*runtimeapi.MetricDescriptor, error) {
	return nil, errNotSimulated
}
func (h *kubeletHost) ListPodSandboxMetrics(context.Context) ([]*runtimeapi.PodSandboxMetrics, error) {
	return nil, errNotSimulated
}

// The stats provider: cAdvisor's and the runtime's figures, none here.

func (h *kubeletHost) ListPodStats(context.Context) ([]statsapi.PodStats, error) {
	return nil, errNotSimulated
}
func (h *kubeletHost) ListPodCPUAndMemoryStats(context.Context) ([]statsapi.PodStats, error) {
	return nil, errNotSimulated
}
func (h *kubeletHost) ListPodStatsAndUpdateCPUNanoCoreUsage(context.Context) ([]statsapi.PodStats, error) {
	return nil, errNotSimulated
}
func (h *kubeletHost) ImageFsStats(context.Context) (*statsapi.FsStats, *statsapi.FsStats, error) {
	return nil, nil, errNotSimulated
}
func (h *kubeletHost) GetCgroupStats(string, bool) (*statsapi.ContainerStats, *statsapi.NetworkStats, error) {
	return nil, nil, errNotSimulated
}
func (h *kubeletHost) GetCgroupCPUAndMemoryStats(string, bool) (*statsapi.ContainerStats, error) {
	return nil, errNotSimulated
}
func (h *kubeletHost) RootFsStats() (*statsapi.FsStats, error) { return nil, errNotSimulated }
func (h *kubeletHost) GetRequestedContainersInfo(string, cadvisorv2.RequestOptions) (map[string]*cadvisorapi.ContainerInfo, error) {
	return nil, errNotSimulated
}
func (h *kubeletHost) GetNodeConfig() cm.NodeConfig { return cm.NodeConfig{} }
func (h *kubeletHost) ListVolumesForPod(types.UID) (map[string]volume.Volume, bool) {
	return nil, false
}
func (h *kubeletHost) ListBlockVolumesForPod(types.UID) (map[string]volume.BlockVolume, bool) {
	return nil, false
}
func (h *kubeletHost) RlimitStats() (*statsapi.RlimitStats, error) { return nil, errNotSimulated }
func (h *kubeletHost) GetPodCgroupRoot() string                    { return "" }
func (h *kubeletHost) GetPodByCgroupfs(string) (*v1.Pod, bool)     { return nil, false }

// execRuntime is the streaming server's runtime: exec in a running
// container; attach and port-forward are not simulated.
type execRuntime struct{ pods *podManager }

func (r execRuntime) Exec(ctx context.Context, containerID string, cmd []string, in io.Reader, out, errOut io.WriteCloser, tty bool, _ <-chan remotecommandserver.TerminalSize) error {
	if tty {
		return errors.New("a terminal (kubectl exec -t) is not simulated: exec without -t")
	}
	inst := r.pods.instanceByID(containerID)
	if inst == nil {
		return fmt.Errorf("container %s is not running", containerID)
	}
	// Interface values: a nil io.WriteCloser must become a nil io.Writer.
	var stdout, stderr io.Writer
	if out != nil {
		stdout = out
	}
	if errOut != nil {
		stderr = errOut
	}
	return runInContainer(ctx, inst, cmd, in, stdout, stderr)
}

func (execRuntime) Attach(context.Context, string, io.Reader, io.WriteCloser, io.WriteCloser, bool, <-chan remotecommandserver.TerminalSize) error {
	return fmt.Errorf("attach: %w", errNotSimulated)
}

func (execRuntime) PortForward(context.Context, string, int32, io.ReadWriteCloser) error {
	return fmt.Errorf("port-forward: %w", errNotSimulated)
}

// runInContainer runs cmd with the container's environment and working
// directory, its root at /proc/PID/root of the container's process: the
// container's mount namespace as seen from outside, with its volumes,
// device mounts and termination-message file. Only the filesystem view is
// the container's (mounts the command makes stay out of it); like the
// container, it shares the host's network and PIDs. A non-zero exit is
// returned as the exit error the streaming server reports.
func runInContainer(ctx context.Context, inst *instance, cmd []string, in io.Reader, out, errOut io.Writer) error {
	if len(cmd) == 0 {
		return errors.New("no command to run")
	}
	root := fmt.Sprintf("/proc/%d/root", inst.cmd.Process.Pid)
	path, err := lookPathIn(root, cmd[0], envValue(inst.spec.Env, "PATH"))
	if err != nil {
		return err
	}
	c := exec.CommandContext(ctx, path)
	c.Args, c.Env, c.Dir = cmd, inst.spec.Env, inst.spec.Dir
	if c.Dir == "" {
		c.Dir = "/"
	}
	c.Stdin, c.Stdout, c.Stderr = in, out, errOut
	c.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Pdeathsig: syscall.SIGKILL}
	err = c.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return utilexec.CodeExitError{Err: err, Code: exitErr.ExitCode()}
	}
	return err
}

// lookPathIn resolves a command name on the container's PATH, under root.
func lookPathIn(root, name, pathEnv string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(filepath.Join(root, p)); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("executable file %q not found in $PATH", name)
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// processContainerOf finds a container of a pod this node runs as
// processes, by the kubelet's pod full name (name_namespace).
func (m *podManager) processContainerOf(podFullName, name string) (*container, error) {
	for _, w := range m.snapshot() {
		pod := w.currentPod()
		if kubecontainer.GetPodFullName(pod) != podFullName {
			continue
		}
		if c := w.processContainer(name); c != nil {
			return c, nil
		}
		if !runsAsProcesses(pod, w.k.o.imageBinDir) {
			return nil, fmt.Errorf("pod %s runs no processes: sim-kubelet only admits it (only DaemonSet pods and pods of images in --image-bin-dir/by-image run)", podFullName)
		}
		return nil, fmt.Errorf("container %q in pod %s has not been created", name, podFullName)
	}
	return nil, fmt.Errorf("pod %s is not on this node", podFullName)
}

// instanceByID is the running instance with that container ID.
func (m *podManager) instanceByID(id string) *instance {
	for _, w := range m.snapshot() {
		for _, c := range w.processContainers() {
			if inst := c.runningInstance(); inst != nil && inst.id == id {
				return inst
			}
		}
	}
	return nil
}

// runningInstance is the instance that runs now, or nil.
func (c *container) runningInstance() *instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inst == nil || c.inst.term != nil || c.inst.cmd == nil {
		return nil
	}
	return c.inst
}

// logOf is the log file of the current instance (running or the last to
// exit) or of the one before it, with a channel closed once that
// instance has exited.
func (c *container) logOf(previous bool, podFullName string) (string, <-chan struct{}, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if previous {
		if c.lastLog == "" {
			return "", nil, fmt.Errorf("previous terminated container %q in pod %s not found", c.spec.Name, podFullName)
		}
		done := make(chan struct{})
		close(done)
		return c.lastLog, done, nil
	}
	if c.inst == nil || c.inst.logFile == "" {
		reason := "ContainerCreating"
		if c.waiting != nil {
			reason = c.waiting.Reason
		}
		return "", nil, fmt.Errorf("container %q in pod %s is waiting to start: %s", c.spec.Name, podFullName, reason)
	}
	return c.inst.logFile, c.inst.exited, nil
}
