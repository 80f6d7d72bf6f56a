package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/kubelet/metrics"
)

// kubelet is one simulated node's shared state.
type kubelet struct {
	o        *options
	client   kubernetes.Interface // system:node:<name>
	recorder kubernetes.Interface // admin, for the allocation annotation; nil without one
	events   record.EventRecorder
	devices  *deviceManager
	dra      *draManager
	cdi      *cdiResolver
	volumes  *volumeSetup
	get      objectGetter
	svcEnv   map[string]string
	podIPs   *podIPAllocator
}

func (k *kubelet) allocatable() v1.ResourceList {
	return v1.ResourceList{v1.ResourceCPU: k.o.cpu, v1.ResourceMemory: k.o.memory}
}

func metaOptions() metav1.PatchOptions { return metav1.PatchOptions{FieldManager: "sim-kubelet"} }

// nodeObjects reads ConfigMaps and Secrets with the node's credentials.
type nodeObjects struct{ client kubernetes.Interface }

func (g nodeObjects) configMap(ctx context.Context, ns, name string) (*v1.ConfigMap, error) {
	return g.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
}

func (g nodeObjects) secret(ctx context.Context, ns, name string) (*v1.Secret, error) {
	return g.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
}

func clientFor(kubeconfig, nodeName string) (*rest.Config, kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "sim-kubelet/" + nodeName
	cs, err := kubernetes.NewForConfig(cfg)
	return cfg, cs, err
}

// runKubelet is the node, inside its private mount namespace.
func runKubelet(o *options) int {
	if err := run(o); err != nil {
		klog.ErrorS(err, "sim-kubelet failed", "node", o.nodeName)
		klog.Flush()
		return 1
	}
	klog.Flush()
	return 0
}

func run(o *options) error {
	if err := enterNodeRoot(o); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)

	cfg, client, err := clientFor(o.kubeconfig, o.nodeName)
	if err != nil {
		return fmt.Errorf("--kubeconfig: %w", err)
	}
	apiURL, err := url.Parse(cfg.Host)
	if err != nil {
		return err
	}
	apiPort, err := strconv.ParseInt(apiURL.Port(), 10, 32)
	if err != nil {
		return fmt.Errorf("API server address %s has no port: %w", cfg.Host, err)
	}
	k := &kubelet{o: o, client: client, get: nodeObjects{client}, svcEnv: serviceEnv(apiURL.Hostname(), int32(apiPort)),
		podIPs: newPodIPAllocator(o.nodeName)}
	if o.recorderKubeconfig != "" {
		if _, k.recorder, err = clientFor(o.recorderKubeconfig, o.nodeName+"-recorder"); err != nil {
			return fmt.Errorf("--recorder-kubeconfig: %w", err)
		}
	}
	k.volumes = &volumeSetup{o: o, client: client, get: k.get}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	k.events = broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: "kubelet", Host: o.nodeName})

	// The kubelet's metrics, kubelet_device_plugin_registration_total among
	// them, served on --http-address.
	metrics.Register()

	// Pod workers outlive the signal: on shutdown they stop their
	// containers themselves.
	podCtx, stopPods := context.WithCancel(context.Background())
	defer stopPods()
	pods := newPodManager(podCtx, k)
	// Only this node's pods, which is also all the Node authorizer lets it
	// list.
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
		lo.FieldSelector = "spec.nodeName=" + o.nodeName
	}))
	informer := factory.Core().V1().Pods().Informer()
	pods.hasSynced = informer.HasSynced
	k.devices = &deviceManager{pods: pods, healthChanged: pods.wakePod}
	if err := k.devices.start(); err != nil {
		return err
	}
	k.cdi = newCDIResolver(o.root)
	k.dra = &draManager{client: client, nodeName: o.nodeName, pods: pods, events: k.events, healthChanged: pods.wakePod}
	metrics.RegisterCollectors(&claimMetrics{d: k.dra})
	if err := k.dra.start(k.devices.watcherHandler()); err != nil {
		return err
	}
	podResources, err := startPodResources(ctx, pods, k.devices, k.dra)
	if err != nil {
		return fmt.Errorf("PodResources server: %w", err)
	}

	restartReq := make(chan chan error)
	ln, err := net.Listen("tcp", o.httpAddress)
	if err != nil {
		return fmt.Errorf("--http-address: %w", err)
	}
	defer ln.Close()
	tlsLn, plainLn := splitTLS(ln)
	srv := &http.Server{Handler: httpHandler(restartReq), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(plainLn) }()
	defer srv.Close()
	httpPort := ln.Addr().(*net.TCPAddr).Port
	certs, err := startServingCertificate(ctx, k)
	if err != nil {
		return fmt.Errorf("kubelet serving certificate: %w", err)
	}
	defer certs.Stop()
	caPEM, err := clusterCA(cfg)
	if err != nil {
		return fmt.Errorf("--kubeconfig: %w", err)
	}
	api, err := newKubeletAPI(ctx, k, pods, caPEM, certs)
	if err != nil {
		return fmt.Errorf("kubelet API: %w", err)
	}
	defer api.stop()
	apiSrv := &http.Server{Handler: api.handler, TLSConfig: api.tlsConfig, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = apiSrv.ServeTLS(tlsLn, "", "") }()
	defer apiSrv.Close()

	ns := &nodeStatus{o: o, client: client, devices: k.devices, httpPort: int32(httpPort)}
	node, err := ns.register(ctx)
	if err != nil {
		return err
	}
	k.events.Event(nodeRef(node), v1.EventTypeNormal, "Starting", "Starting sim-kubelet.")
	go newLeaseController(client, o.nodeName, func() types.UID { return node.UID }).Run(ctx)
	go func() {
		tick := time.NewTicker(o.statusFrequency)
		defer tick.Stop()
		for {
			if err := ns.syncStatus(ctx); err != nil && ctx.Err() == nil {
				klog.ErrorS(err, "Updating node status", "node", o.nodeName)
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()

	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { pods.upsert(obj.(*v1.Pod)) },
		UpdateFunc: func(_, obj any) { pods.upsert(obj.(*v1.Pod)) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if pod, ok := obj.(*v1.Pod); ok {
				pods.remove(pod)
			}
		},
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	klog.InfoS("sim-kubelet running", "node", o.nodeName, "root", o.root, "http", ln.Addr().String(),
		"deviceManagerSocket", o.hostPath(kubeletDir+"/device-plugins/kubelet.sock"),
		"pluginsRegistry", o.hostPath(pluginsRegistryDir))

	restart := func() error {
		klog.InfoS("Simulating a kubelet restart: device manager, DRA manager, plugin manager and PodResources server start over", "node", o.nodeName)
		podResources.stop()
		k.dra.stop()
		if err := k.devices.restart(); err != nil {
			return err
		}
		if err := k.dra.start(k.devices.watcherHandler()); err != nil {
			return err
		}
		var err error
		podResources, err = startPodResources(ctx, pods, k.devices, k.dra)
		k.events.Event(nodeRef(node), v1.EventTypeNormal, "Starting", "Starting sim-kubelet (simulated restart).")
		return err
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-hup:
			if err := restart(); err != nil {
				return err
			}
		case done := <-restartReq:
			err := restart()
			done <- err
			if err != nil {
				return err
			}
		}
	}

	klog.InfoS("Shutting down: stopping pods", "node", o.nodeName)
	factory.Shutdown()
	stopPods()
	pods.wait()
	podResources.stop()
	k.dra.stop()
	if err := k.devices.stop(); err != nil {
		klog.ErrorS(err, "Stopping the device manager")
	}
	// The Node object stays, as a stopped kubelet leaves it (node
	// credentials may not delete it); it says at once that it is not
	// Ready instead of waiting for the node lifecycle controller.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := ns.markNotReady(shutdownCtx); err != nil {
		return fmt.Errorf("marking node %s NotReady: %w", o.nodeName, err)
	}
	klog.InfoS("Stopped; the Node object stays, NotReady", "node", o.nodeName)
	return nil
}

// clusterCA is the CA the node's kubeconfig trusts for the API server: the
// cluster's, which also issued the API server's kubelet client certificate.
func clusterCA(cfg *rest.Config) ([]byte, error) {
	if len(cfg.CAData) > 0 {
		return cfg.CAData, nil
	}
	if cfg.CAFile == "" {
		return nil, errors.New("no certificate authority to verify clients of the kubelet API with")
	}
	return os.ReadFile(cfg.CAFile)
}

func nodeRef(node *v1.Node) *v1.ObjectReference {
	return &v1.ObjectReference{Kind: "Node", Name: node.Name, UID: types.UID(node.Name), Namespace: ""}
}

// httpHandler serves /healthz, the kubelet's /metrics, and POST /restart,
// which simulates a kubelet restart and answers once the new device manager
// listens.
func httpHandler(restart chan<- chan error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.Handle("/metrics", legacyregistry.Handler())
	mux.HandleFunc("/restart", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		done := make(chan error, 1)
		select {
		case restart <- done:
		case <-r.Context().Done():
			return
		}
		if err := <-done; err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("restarted\n"))
	})
	return mux
}
