package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeCDISpec writes a spec into the node's dynamic CDI directory.
func writeCDISpec(t *testing.T, root, name, content string) {
	t.Helper()
	dir := filepath.Join(root, "var/run/cdi")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCDIResolve(t *testing.T) {
	root := t.TempDir()
	r := newCDIResolver(root)
	// A spec-wide variable, a device variable overriding one of the
	// container's, a mount of a file of the node.
	writeCDISpec(t, root, "vendor.json", `{"cdiVersion": "0.6.0", "kind": "example.com/gadget",
		"containerEdits": {"env": ["SPEC_WIDE=1"]},
		"devices": [
			{"name": "a", "containerEdits": {"env": ["GADGET=a", "HOME=/gadget"],
				"mounts": [{"hostPath": "/srv/gadget/a", "containerPath": "/gadget/a", "options": ["ro", "bind"]}]}},
			{"name": "b", "containerEdits": {"env": ["GADGET=b"]}}
		]}`)
	edits, err := r.resolve([]string{"example.com/gadget=a"}, []string{"HOME=/root", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"HOME=/gadget", "PATH=/bin", "SPEC_WIDE=1", "GADGET=a"}; !slices.Equal(edits.Env, want) {
		t.Errorf("env %q, want %q", edits.Env, want)
	}
	if len(edits.Mounts) != 1 || edits.Mounts[0] != (cdiMount{ContainerPath: "/gadget/a", HostPath: "/srv/gadget/a", ReadOnly: true}) {
		t.Errorf("mounts %+v", edits.Mounts)
	}
	// Nothing to resolve: the environment as given.
	if edits, err := r.resolve(nil, []string{"A=1"}); err != nil || !slices.Equal(edits.Env, []string{"A=1"}) {
		t.Errorf("no devices: %+v, %v", edits, err)
	}
	// A name no spec defines fails as the runtime's injection does.
	_, err = r.resolve([]string{"example.com/gadget=b", "example.com/gadget=c", "other.com/x=y"}, nil)
	if err == nil || err.Error() != "unresolvable CDI devices example.com/gadget=c, other.com/x=y" {
		t.Errorf("unresolvable devices: %v", err)
	}
	// A spec written later is found: the cache is refreshed on every use.
	writeCDISpec(t, root, "late.json", `{"cdiVersion": "0.6.0", "kind": "example.com/late",
		"devices": [{"name": "x", "containerEdits": {"env": ["LATE=1"]}}]}`)
	if edits, err := r.resolve([]string{"example.com/late=x"}, nil); err != nil || !slices.Equal(edits.Env, []string{"LATE=1"}) {
		t.Errorf("late spec: %+v, %v", edits, err)
	}
}

func TestCDIResolveDeviceNodes(t *testing.T) {
	root := t.TempDir()
	r := newCDIResolver(root)
	// A device node's host path is a path of the node: <root>/dev/...
	// Without type and numbers the library reads them from the file,
	// which must be a device there.
	writeCDISpec(t, root, "nodes.json", `{"cdiVersion": "0.6.0", "kind": "example.com/dev",
		"devices": [
			{"name": "missing", "containerEdits": {"deviceNodes": [{"path": "/dev/gadget0"}]}},
			{"name": "plain-file", "containerEdits": {"deviceNodes": [{"path": "/dev/gadget1"}]}},
			{"name": "described", "containerEdits": {"deviceNodes": [{"path": "/dev/gadget2", "hostPath": "/dev/real2",
				"type": "c", "major": 240, "minor": 2, "permissions": "r"}]}}
		]}`)
	if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "dev/gadget1"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := r.resolve([]string{"example.com/dev=missing"}, nil)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "dev/gadget0")) {
		t.Errorf("a missing device node: %v", err)
	}
	if _, err := r.resolve([]string{"example.com/dev=plain-file"}, nil); err == nil || !strings.Contains(err.Error(), "not a device node") {
		t.Errorf("a regular file as a device node: %v", err)
	}
	edits, err := r.resolve([]string{"example.com/dev=described"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(edits.DeviceNodes) != 1 || edits.DeviceNodes[0] != (cdiDeviceNode{Path: "/dev/gadget2", HostPath: "/dev/real2", Permissions: "r"}) {
		t.Errorf("device nodes %+v", edits.DeviceNodes)
	}
}
