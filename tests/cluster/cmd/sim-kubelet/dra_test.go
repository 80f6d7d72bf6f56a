package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	resourceapi "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	podresourcesapi "k8s.io/kubelet/pkg/apis/podresources/v1"
)

const (
	draDriver        = "sim.example.com"
	draNamespace     = "dra"
	gadgetResource   = "example.com/gadget" // the DeviceClass's extendedResourceName
	gadgetUserImage  = "example.com/gadget-user:1"
	driverEventsPath = "srv/gadgets/events.jsonl" // under the node's root
)

// TestSimKubeletDRA runs the kubelet's DRA manager and plugin manager in a
// sim-kubelet against a real control plane, with testdata/fakedriver (a
// driver built on the kubeletplugin helper) as a DaemonSet pod: the
// driver's registration and ResourceSlice; a claim from a template,
// created by the controller manager, allocated by the scheduler, prepared
// by the node, its CDI variable in the container's environment; an
// extended resource served by DRA; a failed prepare; an unresolvable CDI
// device; a kubelet restart; unprepare on deletion; the node wiping the
// driver's ResourceSlices once it is gone. Needs root, like TestSimKubelet.
func TestSimKubeletDRA(t *testing.T) {
	if os.Getenv("HF_SKIP_CLUSTER") == "1" {
		t.Skip("HF_SKIP_CLUSTER=1")
	}
	if os.Geteuid() != 0 {
		t.Skip("sim-kubelet needs root for its mount namespaces")
	}
	n := startSimNode(t)
	ctx := t.Context()
	// A pod of this image runs as a process (fakeplugin, which reports
	// its environment); others are only admitted.
	if err := os.MkdirAll(filepath.Join(n.dir, "images", byImageDir, escapeImage(gadgetUserImage)), 0o755); err != nil {
		t.Fatal(err)
	}
	createDriverObjects(t, n)
	events := filepath.Join(n.root, driverEventsPath)

	t.Run("the driver registers with the plugin manager and publishes its ResourceSlice", func(t *testing.T) {
		eventually(t, time.Minute, "the kubelet confirmed the registration", func() (bool, error) {
			return countEvents(events, func(e driverEvent) bool { return e.Call == "NotifyRegistrationStatus" && e.Registered }) > 0, nil
		})
		eventually(t, time.Minute, "a ResourceSlice with 4 devices for the node", func() (bool, error) {
			return len(nodeSliceDevices(ctx, n)) == 4, nil
		})
	})

	mustCreate(t, func() error {
		_, err := n.admin.ResourceV1().DeviceClasses().Create(ctx, &resourceapi.DeviceClass{
			ObjectMeta: metav1.ObjectMeta{Name: "gadget"},
			Spec: resourceapi.DeviceClassSpec{
				Selectors:            []resourceapi.DeviceSelector{{CEL: &resourceapi.CELDeviceSelector{Expression: `device.driver == "` + draDriver + `"`}}},
				ExtendedResourceName: new(gadgetResource),
			},
		}, metav1.CreateOptions{})
		return err
	})
	for name, annotations := range map[string]map[string]string{
		"gadget":         nil,
		"broken-prepare": {"sim.example.com/prepare-error": "the gadget is on fire"},
		"no-cdi":         {"sim.example.com/unresolvable-cdi": "true"},
	} {
		mustCreate(t, func() error {
			_, err := n.admin.ResourceV1().ResourceClaimTemplates(draNamespace).Create(ctx, &resourceapi.ResourceClaimTemplate{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: resourceapi.ResourceClaimTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Annotations: annotations},
					Spec: resourceapi.ResourceClaimSpec{Devices: resourceapi.DeviceClaim{Requests: []resourceapi.DeviceRequest{{
						Name: "gadget", Exactly: &resourceapi.ExactDeviceRequest{DeviceClassName: "gadget"},
					}}}},
				},
			}, metav1.CreateOptions{})
			return err
		})
	}

	prepared := map[string]string{} // pod name -> its claim's UID
	t.Run("a claim from a template is allocated, prepared and reaches the container", func(t *testing.T) {
		mustCreate(t, func() error {
			_, err := n.admin.CoreV1().Pods(draNamespace).Create(ctx, claimPod("user", "gadget", gadgetUserImage), metav1.CreateOptions{})
			return err
		})
		var pod *v1.Pod
		eventually(t, time.Minute, "user Running and Ready", func() (bool, error) {
			var err error
			pod, err = n.admin.CoreV1().Pods(draNamespace).Get(ctx, "user", metav1.GetOptions{})
			return err == nil && podReady(pod), err
		})
		// The controller manager made the claim for the pod, the scheduler
		// allocated and reserved it.
		if len(pod.Status.ResourceClaimStatuses) != 1 || pod.Status.ResourceClaimStatuses[0].ResourceClaimName == nil {
			t.Fatalf("resourceClaimStatuses %+v", pod.Status.ResourceClaimStatuses)
		}
		claim, err := n.admin.ResourceV1().ResourceClaims(draNamespace).Get(ctx, *pod.Status.ResourceClaimStatuses[0].ResourceClaimName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(claim.OwnerReferences) != 1 || claim.OwnerReferences[0].UID != pod.UID {
			t.Errorf("claim owners %+v, want the pod", claim.OwnerReferences)
		}
		device := allocatedDevice(t, claim)
		if !slices.ContainsFunc(claim.Status.ReservedFor, func(r resourceapi.ResourceClaimConsumerReference) bool { return r.UID == pod.UID }) {
			t.Errorf("claim reserved for %+v, not the pod", claim.Status.ReservedFor)
		}
		prepared["user"] = string(claim.UID)
		cdiID := draDriver + "/gadget=" + string(claim.UID)
		if countEvents(events, func(e driverEvent) bool {
			return e.Call == "NodePrepareResources" && e.UID == string(claim.UID) && e.Error == "" && slices.Equal(e.CDIDevices, []string{cdiID})
		}) == 0 {
			t.Errorf("the driver saw no NodePrepareResources for %s", claim.Name)
		}
		// What the runtime made of the CDI device: the variable, in the
		// record and in the process.
		rec := allocation(t, pod)
		c := rec.Containers[0]
		if c.Env["GADGET"] != device || !slices.Contains(c.CDIDevices, cdiID) ||
			!slices.Equal(c.Claims, []string{claim.Name + ": " + draDriver + "/" + n.name + "/" + device}) {
			t.Errorf("recorded %+v, want GADGET=%s from %s", c, device, cdiID)
		}
		// Ready once started (no probe): the report may come a little later.
		var report struct{ Env map[string]string }
		eventually(t, 30*time.Second, "the container's report", func() (bool, error) {
			data, err := os.ReadFile(filepath.Join(n.root, "srv/gadget-user/report.json"))
			if err != nil {
				return false, err
			}
			return json.Unmarshal(data, &report) == nil, nil
		})
		if report.Env["GADGET"] != device {
			t.Errorf("the container's process sees GADGET=%q, want %q", report.Env["GADGET"], device)
		}
		// The PodResources API lists the claim's device.
		want := claim.Name + " " + draDriver + "/" + n.name + "/" + device + " " + cdiID
		if got := dynamicResources(t, n)["user"]; !slices.Contains(got, want) {
			t.Errorf("PodResources lists %q for user, want %q", got, want)
		}
		// The driver's health stream reaches the container status.
		eventually(t, 30*time.Second, "allocatedResourcesStatus says the gadget is Healthy", func() (bool, error) {
			p, err := n.admin.CoreV1().Pods(draNamespace).Get(ctx, "user", metav1.GetOptions{})
			if err != nil || len(p.Status.ContainerStatuses) != 1 {
				return false, err
			}
			for _, rs := range p.Status.ContainerStatuses[0].AllocatedResourcesStatus {
				if rs.Name == "claim:gadget" && len(rs.Resources) == 1 && rs.Resources[0].Health == v1.ResourceHealthStatusHealthy &&
					rs.Resources[0].ResourceID == v1.ResourceID(cdiID) {
					return true, nil
				}
			}
			return false, nil
		})
	})

	t.Run("an extended resource is served by DRA on a node without a device plugin for it", func(t *testing.T) {
		pod := &v1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "ext"},
			Spec: v1.PodSpec{Containers: []v1.Container{{
				Name: "app", Image: "example.com/app:1",
				Resources: v1.ResourceRequirements{Limits: v1.ResourceList{gadgetResource: resource.MustParse("1")}},
			}}},
		}
		mustCreate(t, func() error {
			_, err := n.admin.CoreV1().Pods(draNamespace).Create(ctx, pod, metav1.CreateOptions{})
			return err
		})
		eventually(t, time.Minute, "ext Running and Ready", func() (bool, error) {
			var err error
			pod, err = n.admin.CoreV1().Pods(draNamespace).Get(ctx, "ext", metav1.GetOptions{})
			return err == nil && podReady(pod), err
		})
		if q := nodeResource(ctx, n, "allocatable", gadgetResource); q != "" {
			t.Errorf("the node has allocatable %s=%s from somewhere", gadgetResource, q)
		}
		st := pod.Status.ExtendedResourceClaimStatus
		if st == nil || len(st.RequestMappings) != 1 || st.RequestMappings[0].ResourceName != gadgetResource {
			t.Fatalf("extendedResourceClaimStatus %+v", st)
		}
		claim, err := n.admin.ResourceV1().ResourceClaims(draNamespace).Get(ctx, st.ResourceClaimName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		device := allocatedDevice(t, claim)
		prepared["ext"] = string(claim.UID)
		if countEvents(events, func(e driverEvent) bool { return e.Call == "NodePrepareResources" && e.UID == string(claim.UID) }) == 0 {
			t.Errorf("the driver saw no NodePrepareResources for %s", claim.Name)
		}
		rec := allocation(t, pod)
		if c := rec.Containers[0]; c.Env["GADGET"] != device || len(c.Devices) != 0 {
			t.Errorf("recorded %+v, want GADGET=%s and no device plugin devices", c, device)
		}
		// The kubelet's gauge counts both claims, user's and ext's.
		if got := metricLine(t, n, `dra_resource_claims_in_use{driver_name="`+draDriver+`"} `); got != "2" {
			t.Errorf("dra_resource_claims_in_use for the driver: %q, want 2", got)
		}
	})

	t.Run("a failed prepare keeps the pod from starting", func(t *testing.T) {
		mustCreate(t, func() error {
			_, err := n.admin.CoreV1().Pods(draNamespace).Create(ctx, claimPod("broken", "broken-prepare", "example.com/app:1"), metav1.CreateOptions{})
			return err
		})
		eventually(t, time.Minute, "a FailedPrepareDynamicResources event naming the driver's error", func() (bool, error) {
			return podEvent(ctx, n, "broken", "FailedPrepareDynamicResources", "the gadget is on fire"), nil
		})
		pod, err := n.admin.CoreV1().Pods(draNamespace).Get(ctx, "broken", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pod.Status.Phase != v1.PodPending || len(pod.Status.ContainerStatuses) != 1 ||
			pod.Status.ContainerStatuses[0].State.Waiting == nil || pod.Status.ContainerStatuses[0].State.Waiting.Reason != "ContainerCreating" {
			t.Errorf("broken: phase %s, containers %+v", pod.Status.Phase, pod.Status.ContainerStatuses)
		}
		deleteAndWait(t, n, "broken")
	})

	t.Run("an unresolvable CDI device fails the container's creation", func(t *testing.T) {
		mustCreate(t, func() error {
			_, err := n.admin.CoreV1().Pods(draNamespace).Create(ctx, claimPod("no-cdi", "no-cdi", "example.com/app:1"), metav1.CreateOptions{})
			return err
		})
		var pod *v1.Pod
		eventually(t, time.Minute, "no-cdi's container waits with CreateContainerError", func() (bool, error) {
			var err error
			pod, err = n.admin.CoreV1().Pods(draNamespace).Get(ctx, "no-cdi", metav1.GetOptions{})
			if err != nil || len(pod.Status.ContainerStatuses) != 1 {
				return false, err
			}
			w := pod.Status.ContainerStatuses[0].State.Waiting
			return w != nil && w.Reason == "CreateContainerError", nil
		})
		claimUID := ""
		if len(pod.Status.ResourceClaimStatuses) == 1 {
			if claim, err := n.admin.ResourceV1().ResourceClaims(draNamespace).Get(ctx, *pod.Status.ResourceClaimStatuses[0].ResourceClaimName, metav1.GetOptions{}); err == nil {
				claimUID = string(claim.UID)
			}
		}
		want := "unresolvable CDI devices " + draDriver + "/gadget=" + claimUID
		if msg := pod.Status.ContainerStatuses[0].State.Waiting.Message; claimUID == "" || msg != want {
			t.Errorf("waiting message %q, want %q", msg, want)
		}
		if pod.Status.Phase != v1.PodPending || !podEvent(ctx, n, "no-cdi", "Failed", want) {
			t.Errorf("no-cdi: phase %s; want Pending and a Failed event %q", pod.Status.Phase, want)
		}
		deleteAndWait(t, n, "no-cdi")
	})

	t.Run("after a kubelet restart the driver registers again and prepared claims are kept", func(t *testing.T) {
		registered := func(e driverEvent) bool { return e.Call == "NotifyRegistrationStatus" && e.Registered }
		before := countEvents(events, registered)
		slicesBefore := nodeSliceUIDs(ctx, n)
		if len(slicesBefore) == 0 {
			t.Fatal("no ResourceSlice before the restart")
		}
		resp, err := http.Post("http://"+n.httpAddress(t)+"/restart", "", nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /restart: %v %v", resp, err)
		}
		resp.Body.Close()
		// The new plugin manager finds the registration socket and
		// registers the driver again (drivers do nothing for it).
		eventually(t, time.Minute, "a new registration", func() (bool, error) {
			return countEvents(events, registered) > before, nil
		})
		// The new DRA manager deletes the node's ResourceSlices at start;
		// the driver's helper publishes them again once its own sync delay
		// (30 s after the deletion, later if its cache still has the old
		// slice) is over.
		eventually(t, 2*time.Minute, "a new ResourceSlice with 4 devices", func() (bool, error) {
			uids := nodeSliceUIDs(ctx, n)
			return len(nodeSliceDevices(ctx, n)) == 4 && len(uids) > 0 && !slices.ContainsFunc(uids, func(u types.UID) bool {
				return slices.Contains(slicesBefore, u)
			}), nil
		})
		for _, name := range []string{"user", "ext"} {
			if p, err := n.admin.CoreV1().Pods(draNamespace).Get(ctx, name, metav1.GetOptions{}); err != nil || !podReady(p) {
				t.Errorf("%s is no longer Running after the restart: %v", name, err)
			}
		}
	})

	t.Run("deleting the pods unprepares their claims", func(t *testing.T) {
		for _, name := range []string{"user", "ext"} {
			deleteAndWait(t, n, name)
			uid := prepared[name]
			if uid == "" {
				t.Fatalf("%s had no prepared claim", name)
			}
			// Unprepared before the pod was deleted: by the new DRA manager,
			// from its checkpoint.
			if countEvents(events, func(e driverEvent) bool { return e.Call == "NodeUnprepareResources" && e.UID == uid && e.Error == "" }) == 0 {
				t.Errorf("the driver saw no NodeUnprepareResources for %s's claim", name)
			}
			if _, err := os.Stat(filepath.Join(n.root, "var/run/cdi", draDriver+"-"+uid+".json")); !os.IsNotExist(err) {
				t.Errorf("%s's CDI spec is still there: %v", name, err)
			}
		}
	})

	t.Run("the node wipes the driver's ResourceSlices some time after it is gone", func(t *testing.T) {
		if err := n.admin.AppsV1().DaemonSets(draNamespace).Delete(ctx, "gadgets", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, "the driver's pod is gone", func() (bool, error) {
			return daemonSetPodIn(ctx, n, draNamespace, "gadgets") == nil, nil
		})
		if _, err := os.Stat(filepath.Join(n.root, "var/lib/kubelet/plugins_registry", draDriver+"-reg.sock")); !os.IsNotExist(err) {
			t.Errorf("the registration socket is still there: %v", err)
		}
		// The kubelet waits 30 s for a driver to come back before deleting
		// its slices, with the node's credentials.
		eventually(t, 90*time.Second, "no ResourceSlice left for the node", func() (bool, error) {
			l, err := n.admin.ResourceV1().ResourceSlices().List(ctx, metav1.ListOptions{
				FieldSelector: fields.OneTermEqualSelector(resourceapi.ResourceSliceSelectorNodeName, n.name).String(),
			})
			return err == nil && len(l.Items) == 0, err
		})
	})

	t.Run("SIGTERM stops the node", func(t *testing.T) { n.stop(t) })
}

// createDriverObjects creates the namespace, the driver's ServiceAccount
// with the RBAC a DRA driver needs, and its DaemonSet.
func createDriverObjects(t *testing.T, n *simNode) {
	t.Helper()
	ctx := t.Context()
	mustCreate(t, func() error {
		_, err := n.admin.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: draNamespace}}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := n.admin.CoreV1().ServiceAccounts(draNamespace).Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "driver"}}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := n.admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "sim-dra-driver"},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"resource.k8s.io"}, Resources: []string{"resourceslices"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}},
				{APIGroups: []string{"resource.k8s.io"}, Resources: []string{"resourceclaims"}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}},
			},
		}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := n.admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "sim-dra-driver"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "sim-dra-driver"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: draNamespace, Name: "driver"}},
		}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := n.admin.AppsV1().DaemonSets(draNamespace).Create(ctx, fakeDriverDaemonSet(), metav1.CreateOptions{})
		return err
	})
}

// fakeDriverDaemonSet runs testdata/fakedriver with the hostPaths a DRA
// driver has: the kubelet's plugin registry and plugin directories and the
// CDI spec directory.
func fakeDriverDaemonSet() *appsv1.DaemonSet {
	labels := map[string]string{"app": "gadgets"}
	dirOrCreate := v1.HostPathDirectoryOrCreate
	hostPath := func(name, path string) v1.Volume {
		return v1.Volume{Name: name, VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: path, Type: &dirOrCreate}}}
	}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "gadgets"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: v1.PodSpec{
					ServiceAccountName: "driver",
					Containers: []v1.Container{{
						Name:    "driver",
						Image:   "example.com/fakedriver:test",
						Command: []string{"/opt/bin/fakedriver"},
						Args:    []string{"--node=$(NODE_NAME)", "--events=/report/events.jsonl", "--v=4"},
						Env: []v1.EnvVar{{Name: "NODE_NAME", ValueFrom: &v1.EnvVarSource{
							FieldRef: &v1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"}}}},
						VolumeMounts: []v1.VolumeMount{
							{Name: "registry", MountPath: "/var/lib/kubelet/plugins_registry"},
							{Name: "plugins", MountPath: "/var/lib/kubelet/plugins"},
							{Name: "cdi", MountPath: "/var/run/cdi"},
							{Name: "report", MountPath: "/report"},
						},
					}},
					Volumes: []v1.Volume{
						hostPath("registry", "/var/lib/kubelet/plugins_registry"),
						hostPath("plugins", "/var/lib/kubelet/plugins"),
						hostPath("cdi", "/var/run/cdi"),
						hostPath("report", "/srv/gadgets"),
					},
				},
			},
		},
	}
}

// claimPod asks for one device through a claim from template; of
// gadgetUserImage it runs fakeplugin, which reports its environment.
func claimPod(name, template, image string) *v1.Pod {
	dirOrCreate := v1.HostPathDirectoryOrCreate
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PodSpec{
			ResourceClaims: []v1.PodResourceClaim{{Name: "gadget", ResourceClaimTemplateName: new(template)}},
			Containers: []v1.Container{{
				Name: "app", Image: image,
				Command:      []string{"/opt/bin/fakeplugin"},
				Args:         []string{"--http-address=:8080", "--report=/report/report.json"},
				Ports:        []v1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				Resources:    v1.ResourceRequirements{Claims: []v1.ResourceClaim{{Name: "gadget"}}},
				VolumeMounts: []v1.VolumeMount{{Name: "report", MountPath: "/report"}},
			}},
			Volumes: []v1.Volume{{Name: "report", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{
				Path: "/srv/gadget-" + name, Type: &dirOrCreate}}}},
		},
	}
}

// allocatedDevice is the one device the scheduler allocated for a claim,
// from the fake driver.
func allocatedDevice(t *testing.T, claim *resourceapi.ResourceClaim) string {
	t.Helper()
	if claim.Status.Allocation == nil || len(claim.Status.Allocation.Devices.Results) != 1 {
		t.Fatalf("claim %s is not allocated one device: %+v", claim.Name, claim.Status.Allocation)
	}
	r := claim.Status.Allocation.Devices.Results[0]
	if r.Driver != draDriver {
		t.Fatalf("claim %s allocated %+v", claim.Name, r)
	}
	return r.Device
}

func allocation(t *testing.T, pod *v1.Pod) allocationRecord {
	t.Helper()
	var rec allocationRecord
	if err := json.Unmarshal([]byte(pod.Annotations[allocationAnnotation]), &rec); err != nil || len(rec.Containers) == 0 {
		t.Fatalf("%s: allocation annotation %q: %v", pod.Name, pod.Annotations[allocationAnnotation], err)
	}
	return rec
}

// driverEvent is a line of fakedriver's --events file.
type driverEvent struct {
	Call       string   `json:"call"`
	Claim      string   `json:"claim"`
	UID        string   `json:"uid"`
	Devices    []string `json:"devices"`
	CDIDevices []string `json:"cdiDevices"`
	Registered bool     `json:"registered"`
	Error      string   `json:"error"`
}

func countEvents(path string, match func(driverEvent) bool) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e driverEvent
		if json.Unmarshal(sc.Bytes(), &e) == nil && match(e) {
			n++
		}
	}
	return n
}

// nodeSliceDevices lists the devices of the fake driver's ResourceSlices
// for the node.
func nodeSliceDevices(ctx context.Context, n *simNode) []string {
	l, err := n.admin.ResourceV1().ResourceSlices().List(ctx, metav1.ListOptions{
		FieldSelector: fields.Set{resourceapi.ResourceSliceSelectorNodeName: n.name, resourceapi.ResourceSliceSelectorDriver: draDriver}.String(),
	})
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range l.Items {
		for _, d := range s.Spec.Devices {
			out = append(out, d.Name)
		}
	}
	return out
}

func nodeSliceUIDs(ctx context.Context, n *simNode) []types.UID {
	l, err := n.admin.ResourceV1().ResourceSlices().List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector(resourceapi.ResourceSliceSelectorNodeName, n.name).String(),
	})
	if err != nil {
		return nil
	}
	var out []types.UID
	for _, s := range l.Items {
		out = append(out, s.UID)
	}
	return out
}

// metricLine is the value of the node's /metrics line starting with prefix.
func metricLine(t *testing.T, n *simNode, prefix string) string {
	t.Helper()
	resp, err := http.Get("http://" + n.httpAddress(t) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			return v
		}
	}
	return ""
}

// podEvent tells whether the pod has an event with that reason whose
// message contains text.
func podEvent(ctx context.Context, n *simNode, pod, reason, text string) bool {
	l, err := n.admin.CoreV1().Events(draNamespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.name": pod, "reason": reason}.String(),
	})
	if err != nil {
		return false
	}
	for _, e := range l.Items {
		if strings.Contains(e.Message, text) {
			return true
		}
	}
	return false
}

func deleteAndWait(t *testing.T, n *simNode, name string) {
	t.Helper()
	ctx := t.Context()
	p, err := n.admin.CoreV1().Pods(draNamespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.admin.CoreV1().Pods(draNamespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, name+" is gone", func() (bool, error) {
		q, err := n.admin.CoreV1().Pods(draNamespace).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err) || (err == nil && q.UID != p.UID), nil
	})
}

func daemonSetPodIn(ctx context.Context, n *simNode, ns, app string) *v1.Pod {
	pods, err := n.admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil || len(pods.Items) == 0 {
		return nil
	}
	return &pods.Items[0]
}

// dynamicResources lists, through the node's PodResources socket, each
// pod's claimed devices as "<claim> <driver>/<pool>/<device> <CDI ids>".
func dynamicResources(t *testing.T, n *simNode) map[string][]string {
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
	out := map[string][]string{}
	for _, p := range resp.PodResources {
		for _, c := range p.Containers {
			for _, d := range c.DynamicResources {
				for _, r := range d.ClaimResources {
					var ids []string
					for _, id := range r.CdiDevices {
						ids = append(ids, id.Name)
					}
					out[p.Name] = append(out[p.Name], d.ClaimName+" "+r.DriverName+"/"+r.PoolName+"/"+r.DeviceName+" "+strings.Join(ids, ","))
				}
			}
		}
	}
	return out
}
