package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	oci "github.com/opencontainers/runtime-spec/specs-go"
	"k8s.io/klog/v2"
	"tags.cncf.io/container-device-interface/pkg/cdi"
	cdispec "tags.cncf.io/container-device-interface/specs-go"
)

// cdiSpecDirs are where container runtimes look for CDI specs by default
// (containerd and CRI-O: the static, then the dynamic directory), seen from
// inside the node; on a simulated node they are under --root.
var cdiSpecDirs = []string{cdi.DefaultStaticDir, cdi.DefaultDynamicDir}

// cdiResolver stands in for the container runtime's CDI support: it
// resolves the fully qualified CDI device names a container gets (from
// device plugins' Allocate and from the DRA manager) against the node's
// spec directories with the CDI reference library, and applies their
// container edits. It is safe for concurrent use.
type cdiResolver struct {
	root string // the node's root: host paths in specs are paths of the node

	mu    sync.Mutex
	cache *cdi.Cache
}

func newCDIResolver(root string) *cdiResolver {
	dirs := make([]string, len(cdiSpecDirs))
	for i, d := range cdiSpecDirs {
		dirs[i] = filepath.Join(root, d)
	}
	// Refreshed before every use instead of watched: a spec written just
	// before a container starts is always seen.
	cache, _ := cdi.NewCache(cdi.WithSpecDirs(dirs...), cdi.WithAutoRefresh(false))
	return &cdiResolver{root: root, cache: cache}
}

// cdiEdits are the container edits of a set of CDI devices, with host paths
// as paths of the node.
type cdiEdits struct {
	// Env is the container's environment after the edits: the runtime's
	// list with the specs' variables replacing or appended to it.
	Env         []string
	DeviceNodes []cdiDeviceNode
	Mounts      []cdiMount
	// Unsimulated lists edits that are not applied: hooks, network
	// devices, Intel RDT, additional GIDs.
	Unsimulated []string
}

type cdiDeviceNode struct {
	Path, HostPath, Permissions string
}

type cdiMount struct {
	ContainerPath, HostPath string
	ReadOnly                bool
}

// resolve finds every device and applies its spec's and its own container
// edits to env (NAME=VALUE entries), as a runtime does when it creates the
// container: a name that no spec defines fails with the library's
// "unresolvable CDI devices ...", a device node that is not one on the
// node fails as the library's injection fails.
func (r *cdiResolver) resolve(ids []string, env []string) (*cdiEdits, error) {
	out := &cdiEdits{Env: env}
	if len(ids) == 0 {
		return out, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.cache.Refresh(); err != nil {
		// Broken spec files; the devices of the others still resolve, as
		// with container runtimes, which only log these.
		klog.InfoS("CDI spec errors", "err", err)
	}
	var unresolved []string
	var combined []*cdispec.ContainerEdits
	specs := map[*cdi.Spec]bool{}
	for _, id := range ids {
		dev := r.cache.GetDevice(id)
		if dev == nil {
			unresolved = append(unresolved, id)
			continue
		}
		// The spec's own edits once per spec, then the device's (the
		// library's order of injection).
		if spec := dev.GetSpec(); !specs[spec] {
			specs[spec] = true
			combined = append(combined, &spec.ContainerEdits)
		}
		combined = append(combined, &dev.ContainerEdits)
	}
	if len(unresolved) > 0 {
		return nil, fmt.Errorf("unresolvable CDI devices %s", strings.Join(unresolved, ", "))
	}
	edits := &cdispec.ContainerEdits{}
	for _, e := range combined {
		edits.Env = append(edits.Env, e.Env...)
		for _, n := range e.DeviceNodes {
			n := *n
			if n.HostPath == "" {
				n.HostPath = n.Path
			}
			out.DeviceNodes = append(out.DeviceNodes, cdiDeviceNode{Path: n.Path, HostPath: n.HostPath, Permissions: n.Permissions})
			n.HostPath = r.onHost(n.HostPath) // stat'ed by the library
			edits.DeviceNodes = append(edits.DeviceNodes, &n)
		}
		for _, m := range e.Mounts {
			m := *m
			out.Mounts = append(out.Mounts, cdiMount{ContainerPath: m.ContainerPath, HostPath: m.HostPath,
				ReadOnly: slices.Contains(m.Options, "ro")})
			m.HostPath = r.onHost(m.HostPath)
			edits.Mounts = append(edits.Mounts, &m)
		}
		for _, h := range e.Hooks {
			out.Unsimulated = append(out.Unsimulated, "hook "+h.HookName+" "+h.Path)
		}
		for _, n := range e.NetDevices {
			out.Unsimulated = append(out.Unsimulated, "netDevice "+n.HostInterfaceName)
		}
		if e.IntelRdt != nil {
			out.Unsimulated = append(out.Unsimulated, "intelRdt")
		}
		for _, g := range e.AdditionalGIDs {
			out.Unsimulated = append(out.Unsimulated, fmt.Sprintf("additionalGid %d", g))
		}
	}
	// The library validates the edits, reads each device node's type and
	// numbers from the node and merges the environment.
	spec := &oci.Spec{Process: &oci.Process{Env: slices.Clone(env)}, Linux: &oci.Linux{}}
	if err := (&cdi.ContainerEdits{ContainerEdits: edits}).Apply(spec); err != nil {
		return nil, fmt.Errorf("CDI device injection failed: %w", err)
	}
	out.Env = spec.Process.Env
	sort.SliceStable(out.Mounts, func(i, j int) bool { return out.Mounts[i].ContainerPath < out.Mounts[j].ContainerPath })
	return out, nil
}

// onHost maps a path of the node to the host.
func (r *cdiResolver) onHost(p string) string {
	if p == "" || !filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(r.root, p)
}
