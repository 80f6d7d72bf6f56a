package main

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/klog/v2"
)

const usage = `usage: sim-kubelet --node-name=NAME --root=DIR --kubeconfig=FILE [flags]

Simulates one node: registers it, keeps it Ready, runs the real kubelet device
manager (plugins register at DIR/var/lib/kubelet/device-plugins/kubelet.sock,
seen as /var/lib/kubelet/device-plugins inside the node) and the real kubelet
DRA and plugin managers (DRA drivers register at
DIR/var/lib/kubelet/plugins_registry; CDI specs are read from DIR/etc/cdi and
DIR/var/run/cdi), runs DaemonSet pods as local processes and admits every
other pod through the device manager, preparing their claims.
Serves the kubelet API (kubectl logs and exec through the API server) on
--http-address. Needs root: it uses private mount namespaces. SIGHUP (or POST
/restart on --http-address) simulates a kubelet restart; SIGTERM stops its
pods' processes and leaves the Node object behind, NotReady.

`

// options are the command-line settings of one simulated node.
type options struct {
	nodeName           string
	root               string // the node's own filesystem root on the host
	kubeconfig         string // system:node:<name> credentials
	recorderKubeconfig string // admin credentials, only for the allocation annotation
	imageBinDir        string
	httpAddress        string
	labels             map[string]string
	cpu, memory        resource.Quantity
	maxPods            int64
	maxProbePeriod     time.Duration
	crashBackoff       time.Duration
	maxCrashBackoff    time.Duration
	statusFrequency    time.Duration
}

func parseOptions(args []string) (*options, error) {
	fs := flag.NewFlagSet("sim-kubelet", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	o := &options{}
	var labels, cpu, memory string
	fs.StringVar(&o.nodeName, "node-name", "", "name of the Node to register (required)")
	fs.StringVar(&o.root, "root", "", "directory holding this node's filesystem: var/lib/kubelet, var/log/pods and every hostPath live under it (required)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig authenticating as system:node:<node-name>, from `cluster node-kubeconfig` (required)")
	fs.StringVar(&o.recorderKubeconfig, "recorder-kubeconfig", "", "admin kubeconfig used only to write the "+allocationAnnotation+" annotation on admitted pods (node credentials cannot annotate pods); empty: no annotation")
	fs.StringVar(&o.imageBinDir, "image-bin-dir", "", "directory standing in for container images: a container whose command is /some/path/NAME runs DIR/by-image/<image>/NAME if that is an executable, else DIR/NAME; <image> is the container's image with every '/', ':' and '@' as '_' (hashfoundry/devicepool-agent:v2 -> hashfoundry_devicepool-agent_v2)")
	fs.StringVar(&o.httpAddress, "http-address", "127.0.0.1:0", "the Node's kubelet endpoint: the kubelet API (logs, exec) over TLS, and /healthz, /metrics (kubelet metrics) and POST /restart in plain HTTP, on one port")
	fs.StringVar(&labels, "node-labels", "", "labels to register the Node with, k=v,k2=v2")
	fs.StringVar(&cpu, "cpu", "4", "CPU capacity to report")
	fs.StringVar(&memory, "memory", "8Gi", "memory capacity to report")
	fs.Int64Var(&o.maxPods, "max-pods", 110, "pods capacity to report")
	fs.DurationVar(&o.maxProbePeriod, "max-probe-period", 0, "run readiness and startup probes at least this often, whatever their periodSeconds (0: as the pod says); speeds up tests. Liveness probes keep their period")
	fs.DurationVar(&o.crashBackoff, "crash-backoff", 10*time.Second, "first restart delay of a crashed container; doubles per crash, as the kubelet's")
	fs.DurationVar(&o.maxCrashBackoff, "max-crash-backoff", 5*time.Minute, "longest restart delay")
	fs.DurationVar(&o.statusFrequency, "node-status-update-frequency", time.Second, "how often device capacity is compared with the Node's status (a patch is sent only on change)")
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	fs.Var(klogFlags.Lookup("v").Value, "v", "log verbosity (klog)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var errs []error
	if o.nodeName == "" || o.root == "" || o.kubeconfig == "" {
		errs = append(errs, errors.New("--node-name, --root and --kubeconfig are required"))
	}
	for _, msg := range validation.IsDNS1123Subdomain(o.nodeName) {
		errs = append(errs, fmt.Errorf("--node-name: %s", msg))
	}
	if o.root != "" {
		abs, err := filepath.Abs(o.root)
		if err != nil {
			errs = append(errs, err)
		}
		o.root = abs
	}
	if o.imageBinDir != "" {
		abs, err := filepath.Abs(o.imageBinDir)
		if err != nil {
			errs = append(errs, err)
		}
		o.imageBinDir = abs
	}
	var err error
	if o.labels, err = parseLabels(labels); err != nil {
		errs = append(errs, err)
	}
	if o.cpu, err = resource.ParseQuantity(cpu); err != nil {
		errs = append(errs, fmt.Errorf("--cpu: %w", err))
	}
	if o.memory, err = resource.ParseQuantity(memory); err != nil {
		errs = append(errs, fmt.Errorf("--memory: %w", err))
	}
	if o.crashBackoff <= 0 || o.maxCrashBackoff < o.crashBackoff {
		errs = append(errs, errors.New("--crash-backoff must be positive and at most --max-crash-backoff"))
	}
	if o.statusFrequency <= 0 {
		errs = append(errs, errors.New("--node-status-update-frequency must be positive"))
	}
	return o, errors.Join(errs...)
}

func parseLabels(s string) (map[string]string, error) {
	labels := map[string]string{}
	if s == "" {
		return labels, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--node-labels: %q is not key=value", kv)
		}
		for _, msg := range validation.IsQualifiedName(k) {
			return nil, fmt.Errorf("--node-labels: key %q: %s", k, msg)
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			return nil, fmt.Errorf("--node-labels: value %q: %s", v, msg)
		}
		labels[k] = v
	}
	return labels, nil
}

// Paths inside the node. The kubelet's own directory is bind-mounted over
// /var/lib/kubelet in the node's mount namespace, because the device manager
// hard-codes that path; everything else is addressed as root+path.
const kubeletDir = "/var/lib/kubelet"

func (o *options) hostPath(p string) string { return filepath.Join(o.root, p) }
