// Command fakedriver is the DRA driver sim-kubelet's tests run as a
// DaemonSet pod, built on the Kubernetes helper for kubelet plugins
// (k8s.io/dynamic-resource-allocation/kubeletplugin) as real drivers are:
// it registers through /var/lib/kubelet/plugins_registry/<driver>-reg.sock,
// serves dra/v1 on /var/lib/kubelet/plugins/<driver>/dra.sock, publishes a
// ResourceSlice with --devices devices (gadget-0, ...) for its node, and on
// NodePrepareResources writes one CDI spec per claim to --cdi-dir (one
// variable, GADGET=<the claim's devices>) and returns its CDI ids;
// NodeUnprepareResources removes the spec. It reports every device Healthy
// on the dra-health v1alpha1 stream. Each registration and each prepare or
// unprepare it sees is appended to --events as a JSON line.
//
// Claims whose annotations ask for it misbehave: sim.example.com/prepare-error
// makes preparing them fail with that message, and
// sim.example.com/unresolvable-cdi returns a CDI id without writing its spec.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/dynamic-resource-allocation/kubeletplugin"
	"k8s.io/dynamic-resource-allocation/resourceslice"
	"k8s.io/klog/v2"
	drahealth "k8s.io/kubelet/pkg/apis/dra-health/v1alpha1"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
	cdispec "tags.cncf.io/container-device-interface/specs-go"
)

const (
	prepareErrorAnnotation    = "sim.example.com/prepare-error"
	unresolvableCDIAnnotation = "sim.example.com/unresolvable-cdi"
	cdiClass                  = "gadget"
)

// event is one line of --events.
type event struct {
	Call       string   `json:"call"`
	Claim      string   `json:"claim,omitempty"` // namespace/name
	UID        string   `json:"uid,omitempty"`
	Devices    []string `json:"devices,omitempty"`
	CDIDevices []string `json:"cdiDevices,omitempty"`
	Registered bool     `json:"registered,omitempty"`
	Error      string   `json:"error,omitempty"`
}

type driver struct {
	drahealth.UnimplementedDRAResourceHealthServer

	name, pool, cdiDir string
	devices            []string

	mu     sync.Mutex
	events *os.File
}

func main() {
	name := flag.String("driver-name", "sim.example.com", "the DRA driver's name")
	node := flag.String("node", "", "the node this runs on (required)")
	devices := flag.Int("devices", 4, "devices to publish")
	cdiDir := flag.String("cdi-dir", "/var/run/cdi", "where to write CDI specs")
	eventsFile := flag.String("events", "", "file to append what the driver sees to (JSON lines)")
	klogFlags := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(klogFlags)
	flag.Var(klogFlags.Lookup("v").Value, "v", "log verbosity")
	flag.Parse()
	if *node == "" {
		fmt.Fprintln(os.Stderr, "--node is required")
		os.Exit(2)
	}
	if err := run(*name, *node, *devices, *cdiDir, *eventsFile); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(name, node string, n int, cdiDir, eventsFile string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	d := &driver{name: name, pool: node, cdiDir: cdiDir}
	for i := range n {
		d.devices = append(d.devices, fmt.Sprintf("gadget-%d", i))
	}
	if eventsFile != "" {
		if d.events, err = os.OpenFile(eventsFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(cdiDir, 0o755); err != nil {
		return err
	}
	// The plugin data directory must exist; the kubelet's does not make it.
	if err := os.MkdirAll(filepath.Join(kubeletplugin.KubeletPluginsDir, name), 0o750); err != nil {
		return err
	}
	helper, err := kubeletplugin.Start(ctx, d,
		kubeletplugin.DriverName(name), kubeletplugin.NodeName(node), kubeletplugin.KubeClient(client),
		kubeletplugin.GRPCInterceptor(d.watchRegistration))
	if err != nil {
		return err
	}
	defer helper.Stop()
	var devs []resourceapi.Device
	for i, dev := range d.devices {
		index := int64(i)
		devs = append(devs, resourceapi.Device{Name: dev, Attributes: map[resourceapi.QualifiedName]resourceapi.DeviceAttribute{
			"index": {IntValue: &index},
		}})
	}
	if err := helper.PublishResources(ctx, resourceslice.DriverResources{Pools: map[string]resourceslice.Pool{
		d.pool: {Slices: []resourceslice.Slice{{Devices: devs}}},
	}}); err != nil {
		return err
	}
	fmt.Printf("fakedriver %s started on node %s with %d devices\n", name, node, n)
	<-ctx.Done()
	return nil
}

// watchRegistration records the kubelet's NotifyRegistrationStatus calls on
// the registration socket.
func (d *driver) watchRegistration(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if status, ok := req.(*registerapi.RegistrationStatus); ok {
		d.record(event{Call: "NotifyRegistrationStatus", Registered: status.PluginRegistered, Error: status.Error})
	}
	return handler(ctx, req)
}

func (d *driver) record(e event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.events == nil {
		return
	}
	data, _ := json.Marshal(e)
	_, _ = d.events.Write(append(data, '\n'))
}

func (d *driver) specFile(uid types.UID) string {
	return filepath.Join(d.cdiDir, fmt.Sprintf("%s-%s.json", d.name, uid))
}

// PrepareResourceClaims writes a CDI spec per claim: one device named after
// the claim, whose edits set GADGET to the claim's devices.
func (d *driver) PrepareResourceClaims(_ context.Context, claims []*resourceapi.ResourceClaim) (map[types.UID]kubeletplugin.PrepareResult, error) {
	out := map[types.UID]kubeletplugin.PrepareResult{}
	for _, claim := range claims {
		e := event{Call: "NodePrepareResources", Claim: claim.Namespace + "/" + claim.Name, UID: string(claim.UID)}
		res, err := d.prepare(claim)
		if err != nil {
			e.Error = err.Error()
			res.Err = err
		}
		for _, dev := range res.Devices {
			e.Devices = append(e.Devices, dev.DeviceName)
			e.CDIDevices = append(e.CDIDevices, dev.CDIDeviceIDs...)
		}
		d.record(e)
		out[claim.UID] = res
	}
	return out, nil
}

func (d *driver) prepare(claim *resourceapi.ResourceClaim) (kubeletplugin.PrepareResult, error) {
	if msg := claim.Annotations[prepareErrorAnnotation]; msg != "" {
		return kubeletplugin.PrepareResult{}, errors.New(msg)
	}
	var res kubeletplugin.PrepareResult
	var names []string
	cdiName := string(claim.UID)
	id := d.name + "/" + cdiClass + "=" + cdiName
	for _, r := range claim.Status.Allocation.Devices.Results {
		if r.Driver != d.name {
			continue
		}
		names = append(names, r.Device)
		res.Devices = append(res.Devices, kubeletplugin.Device{
			Requests: []string{r.Request}, PoolName: r.Pool, DeviceName: r.Device, CDIDeviceIDs: []string{id},
		})
	}
	if claim.Annotations[unresolvableCDIAnnotation] != "" {
		return res, nil
	}
	sort.Strings(names)
	spec := cdispec.Spec{
		Version: "0.6.0",
		Kind:    d.name + "/" + cdiClass,
		Devices: []cdispec.Device{{
			Name:           cdiName,
			ContainerEdits: cdispec.ContainerEdits{Env: []string{"GADGET=" + strings.Join(names, ",")}},
		}},
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return res, err
	}
	tmp := d.specFile(claim.UID) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return res, err
	}
	return res, os.Rename(tmp, d.specFile(claim.UID))
}

// UnprepareResourceClaims removes the claims' CDI specs; a claim that was
// never prepared is fine.
func (d *driver) UnprepareResourceClaims(_ context.Context, claims []kubeletplugin.NamespacedObject) (map[types.UID]error, error) {
	out := map[types.UID]error{}
	for _, claim := range claims {
		err := os.Remove(d.specFile(claim.UID))
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
		e := event{Call: "NodeUnprepareResources", Claim: claim.Namespace + "/" + claim.Name, UID: string(claim.UID)}
		if err != nil {
			e.Error = err.Error()
		}
		d.record(e)
		out[claim.UID] = err
	}
	return out, nil
}

func (d *driver) HandleError(ctx context.Context, err error, msg string) {
	klog.FromContext(ctx).Error(err, msg)
	if !errors.Is(err, kubeletplugin.ErrRecoverable) {
		os.Exit(1)
	}
}

// NodeWatchResources reports every device Healthy, again every 5 s (the
// kubelet takes a device it has not heard of for 30 s as Unknown).
func (d *driver) NodeWatchResources(_ *drahealth.NodeWatchResourcesRequest, stream drahealth.DRAResourceHealth_NodeWatchResourcesServer) error {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		resp := &drahealth.NodeWatchResourcesResponse{}
		for _, dev := range d.devices {
			resp.Devices = append(resp.Devices, &drahealth.DeviceHealth{
				Device: &drahealth.DeviceIdentifier{PoolName: d.pool, DeviceName: dev},
				Health: drahealth.HealthStatus_HEALTHY, LastUpdatedTime: time.Now().Unix(),
			})
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
		select {
		case <-tick.C:
		case <-stream.Context().Done():
			return nil
		}
	}
}
