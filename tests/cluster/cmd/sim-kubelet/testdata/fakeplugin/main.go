// Command fakeplugin is the container sim-kubelet's tests run as a
// DaemonSet pod: it reports what it sees of its container (args, env,
// service-account files) to a JSON file, serves /readyz and /healthz, and
// runs the kubelet's own device plugin test stub, which registers with the
// kubelet and registers again after a kubelet restart. It prints one line
// naming its node (for log tests). With --exit-code it writes its report,
// then --termination-message to /dev/termination-log, and exits at once, to
// crash on purpose.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"k8s.io/klog/v2"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
	plugin "k8s.io/kubernetes/pkg/kubelet/cm/devicemanager/plugin/v1beta1"
)

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

type report struct {
	Args      []string          `json:"args"`
	Env       map[string]string `json:"env"`
	Token     string            `json:"token"`
	Namespace string            `json:"namespace"`
	CA        bool              `json:"ca"`
}

func main() {
	httpAddress := flag.String("http-address", ":8080", "serves /readyz and /healthz")
	resource := flag.String("resource", "", "extended resource to advertise; empty: none")
	devices := flag.Int("devices", 2, "devices to advertise")
	reportFile := flag.String("report", "", "where to write what the container sees")
	exitCode := flag.Int("exit-code", -1, "exit with this code right after the report")
	terminationMessage := flag.String("termination-message", "", "with --exit-code, written to /dev/termination-log first")
	node := flag.String("node", "", "the node name, to see $(VAR) expansion in args")
	flag.Parse()

	fmt.Printf("fakeplugin started on node %s\n", *node)
	if err := writeReport(*reportFile); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *exitCode >= 0 {
		if *terminationMessage != "" {
			if err := os.WriteFile("/dev/termination-log", []byte(*terminationMessage), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}
		os.Exit(*exitCode)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if *resource != "" {
		if err := servePlugin(ctx, *resource, *devices); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	mux := http.NewServeMux()
	for _, p := range []string{"/readyz", "/healthz"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	}
	srv := &http.Server{Addr: *httpAddress, Handler: mux}
	go func() {
		if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}()
	<-ctx.Done()
	// Proof of a graceful stop, next to the report.
	if *reportFile != "" {
		_ = os.WriteFile(filepath.Join(filepath.Dir(*reportFile), "terminated"), []byte("SIGTERM\n"), 0o644)
	}
}

func writeReport(path string) error {
	if path == "" {
		return nil
	}
	r := report{Args: os.Args, Env: map[string]string{}}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		r.Env[k] = v
	}
	if b, err := os.ReadFile(filepath.Join(saDir, "token")); err == nil {
		r.Token = string(b)
	}
	if b, err := os.ReadFile(filepath.Join(saDir, "namespace")); err == nil {
		r.Namespace = string(b)
	}
	if b, err := os.ReadFile(filepath.Join(saDir, "ca.crt")); err == nil {
		r.CA = strings.Contains(string(b), "BEGIN CERTIFICATE")
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// servePlugin advertises devices widget-0.. with the kubelet's device plugin
// test stub; Allocate hands each container WIDGET_IDS.
func servePlugin(ctx context.Context, resource string, n int) error {
	var devs []*pluginapi.Device
	for i := range n {
		devs = append(devs, &pluginapi.Device{ID: fmt.Sprintf("widget-%d", i), Health: pluginapi.Healthy})
	}
	socket := filepath.Join(pluginapi.DevicePluginPath, strings.ReplaceAll(resource, "/", "_")+".sock")
	stub := plugin.NewDevicePluginStub(klog.Background(), devs, socket, resource, false, false)
	stub.SetAllocFunc(func(r *pluginapi.AllocateRequest, _ map[string]*pluginapi.Device) (*pluginapi.AllocateResponse, error) {
		resp := &pluginapi.AllocateResponse{}
		for _, c := range r.ContainerRequests {
			ids := append([]string(nil), c.DevicesIds...)
			sort.Strings(ids)
			resp.ContainerResponses = append(resp.ContainerResponses, &pluginapi.ContainerAllocateResponse{
				Envs: map[string]string{"WIDGET_IDS": strings.Join(ids, ",")},
			})
		}
		return resp, nil
	})
	if err := stub.Start(ctx); err != nil {
		return err
	}
	if err := stub.Register(ctx, pluginapi.KubeletSocket, resource, pluginapi.DevicePluginPath); err != nil {
		return err
	}
	// Registers again when kubelet.sock is created anew (a kubelet restart).
	go stub.Watch(ctx, pluginapi.KubeletSocket, resource, pluginapi.DevicePluginPath)
	return nil
}
