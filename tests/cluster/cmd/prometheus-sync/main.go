// Command prometheus-sync runs a real Prometheus server against the local
// control plane of tests/cluster and keeps its configuration in step with the
// ServiceMonitors and PrometheusRules in the API server, the part of the
// Prometheus Operator that decides what Prometheus scrapes and evaluates.
//
// What is real: Prometheus itself (built from the same module as promtool),
// its Kubernetes service discovery against the real API server's
// EndpointSlices, Pods, Services and Nodes, the scrapes of every agent's,
// the operator's and every kubelet's /metrics, and the rules exactly as the
// operator wrote them. What is ours: the translation of a ServiceMonitor into
// a scrape job (config.go: matchLabels, named ports, path, interval, the
// Prometheus Operator's target labels), and one relabelling step a real
// cluster does not need: pods have no routable IPs here, so the scrape goes
// to the loopback port sim-kubelet gave that container port. See README.md.
//
//	prometheus-sync --kubeconfig=ADMIN --dir=DIR [--prometheus=BIN] [--listen=127.0.0.1:0]
//	  [--evaluation-interval=1s] [--kubelet-scrape-interval=30s] [--sync-period=1s]
//
// Once Prometheus is ready it writes its URL to DIR/url (and prints it), then
// re-reads the objects every --sync-period and reloads Prometheus when the
// generated files change. SIGTERM or SIGINT stop Prometheus and exit 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

var (
	serviceMonitors = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}
	prometheusRules = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheusrules"}
)

type options struct {
	kubeconfig, prometheus, dir, listen string
	intervals                           intervals
	syncPeriod                          time.Duration
}

func main() {
	var o options
	fs := flag.NewFlagSet("prometheus-sync", flag.ContinueOnError)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig with read access to ServiceMonitors, PrometheusRules and service discovery (required)")
	fs.StringVar(&o.prometheus, "prometheus", "", "the prometheus binary (default: next to this one)")
	fs.StringVar(&o.dir, "dir", "", "directory for the configuration, rule files, TSDB and log (required)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "Prometheus' web address; port 0 picks a free one")
	fs.StringVar(&o.intervals.evaluation, "evaluation-interval", "1s", "how often rules are evaluated")
	fs.StringVar(&o.intervals.kubeletScrape, "kubelet-scrape-interval", "30s", "how often the kubelets are scraped")
	fs.DurationVar(&o.syncPeriod, "sync-period", time.Second, "how often ServiceMonitors and PrometheusRules are re-read")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if o.kubeconfig == "" || o.dir == "" {
		fmt.Fprintln(os.Stderr, "prometheus-sync: --kubeconfig and --dir are required")
		os.Exit(2)
	}
	if o.prometheus == "" {
		self, err := os.Executable()
		if err == nil {
			o.prometheus = filepath.Join(filepath.Dir(self), "prometheus")
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "prometheus-sync: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return err
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	p, err := writeCredentials(o.dir, o.kubeconfig, cfg)
	if err != nil {
		return err
	}
	if o.listen, err = resolveListen(o.listen); err != nil {
		return err
	}
	// The first configuration is written before Prometheus starts, so that
	// it starts with every job and rule that exists already.
	s := &syncer{client: client, dir: o.dir, paths: p, intervals: o.intervals}
	if _, err := s.sync(ctx); err != nil {
		return err
	}
	prom := exec.Command(o.prometheus,
		"--config.file="+filepath.Join(o.dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(o.dir, "data"),
		"--web.listen-address="+o.listen,
		"--web.enable-lifecycle",
		"--log.level=info")
	logFile, err := os.OpenFile(filepath.Join(o.dir, "prometheus.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	prom.Stdout, prom.Stderr = logFile, logFile
	// Prometheus goes when this process goes, however it goes.
	prom.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := prom.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- prom.Wait() }()
	url := "http://" + o.listen
	if err := waitReady(ctx, url, exited); err != nil {
		_ = prom.Process.Kill()
		return err
	}
	if err := os.WriteFile(filepath.Join(o.dir, "url"), []byte(url+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Printf("prometheus ready at %s\n", url)

	tick := time.NewTicker(o.syncPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = prom.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				_ = prom.Process.Kill()
				<-exited
			}
			return nil
		case err := <-exited:
			return fmt.Errorf("prometheus exited: %v (log: %s)", err, filepath.Join(o.dir, "prometheus.log"))
		case <-tick.C:
			changed, err := s.sync(ctx)
			if err != nil {
				klog.ErrorS(err, "Reading ServiceMonitors and PrometheusRules")
				continue
			}
			if changed {
				if err := reload(url); err != nil {
					klog.ErrorS(err, "Reloading Prometheus")
				}
			}
		}
	}
}

// resolveListen turns port 0 into a free port: Prometheus has to be told
// one, and the URL is written only once it listens there.
func resolveListen(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != "0" {
		return addr, err
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// writeCredentials gives Prometheus the admin kubeconfig for service
// discovery, and the CA and client certificate from it as files for the
// kubelet scrapes (the kubelets' serving certificates are signed by the
// cluster CA, and verified).
func writeCredentials(dir, kubeconfig string, cfg *rest.Config) (paths, error) {
	tls := filepath.Join(dir, "tls")
	if err := os.MkdirAll(tls, 0o700); err != nil {
		return paths{}, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "rules"), 0o755); err != nil {
		return paths{}, err
	}
	abs, err := filepath.Abs(kubeconfig)
	if err != nil {
		return paths{}, err
	}
	p := paths{
		kubeconfig: abs,
		caFile:     filepath.Join(tls, "ca.crt"),
		certFile:   filepath.Join(tls, "client.crt"),
		keyFile:    filepath.Join(tls, "client.key"),
		rulesGlob:  filepath.Join(dir, "rules", "*.yaml"),
	}
	if len(cfg.CAData) == 0 || len(cfg.CertData) == 0 || len(cfg.KeyData) == 0 {
		return paths{}, errors.New("the kubeconfig must hold its CA and client certificate inline")
	}
	for file, data := range map[string][]byte{p.caFile: cfg.CAData, p.certFile: cfg.CertData, p.keyFile: cfg.KeyData} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			return paths{}, err
		}
	}
	return p, nil
}

type syncer struct {
	client       dynamic.Interface
	dir          string
	paths        paths
	intervals    intervals
	last         files
	lastProblems []string
}

// sync writes the files for the objects as they are now; true when any
// changed. A monitoring API that is not served counts as no objects.
func (s *syncer) sync(ctx context.Context) (bool, error) {
	monitors, err := s.list(ctx, serviceMonitors)
	if err != nil {
		return false, err
	}
	rules, err := s.list(ctx, prometheusRules)
	if err != nil {
		return false, err
	}
	f, problems := generate(monitors, rules, s.paths, s.intervals)
	if !reflect.DeepEqual(problems, s.lastProblems) {
		for _, p := range problems {
			klog.InfoS("Skipped", "problem", p)
		}
		s.lastProblems = problems
	}
	if s.last.config != nil && reflect.DeepEqual(f, s.last) {
		return false, nil
	}
	entries, _ := os.ReadDir(filepath.Join(s.dir, "rules"))
	for _, e := range entries {
		if _, keep := f.rules[e.Name()]; !keep {
			_ = os.Remove(filepath.Join(s.dir, "rules", e.Name()))
		}
	}
	for name, body := range f.rules {
		if err := writeAtomically(filepath.Join(s.dir, "rules", name), body); err != nil {
			return false, err
		}
	}
	if err := writeAtomically(filepath.Join(s.dir, "prometheus.yml"), f.config); err != nil {
		return false, err
	}
	klog.InfoS("Configuration written", "scrapeJobs", strings.Count(string(f.config), `"job_name"`), "ruleFiles", len(f.rules))
	s.last = f
	return true, nil
}

func (s *syncer) list(ctx context.Context, gvr schema.GroupVersionResource) ([]unstructured.Unstructured, error) {
	l, err := s.client.Resource(gvr).List(ctx, metav1.ListOptions{})
	if err != nil {
		if isNotServed(err) {
			return nil, nil
		}
		return nil, err
	}
	return l.Items, nil
}

func isNotServed(err error) bool {
	var status interface{ Status() metav1.Status }
	if errors.As(err, &status) {
		return status.Status().Code == http.StatusNotFound
	}
	return false
}

func writeAtomically(path string, body []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, body, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func waitReady(ctx context.Context, url string, exited <-chan error) error {
	deadline := time.After(2 * time.Minute)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := http.Get(url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-exited:
			return fmt.Errorf("prometheus exited before it was ready: %v", err)
		case <-deadline:
			return errors.New("prometheus not ready after 2m")
		case <-tick.C:
		}
	}
}

func reload(url string) error {
	resp, err := http.Post(url+"/-/reload", "text/plain", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /-/reload: %s", resp.Status)
	}
	return nil
}
