package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// layout names every file `up` writes inside the cluster directory. The other
// subcommands find the cluster again through these names alone.
type layout struct {
	dir string
}

func newLayout(dir string) (layout, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return layout{}, err
	}
	return layout{dir: abs}, nil
}

func (l layout) pki() string                  { return filepath.Join(l.dir, "pki") }
func (l layout) etcdData() string             { return filepath.Join(l.dir, "etcd") }
func (l layout) logs() string                 { return filepath.Join(l.dir, "logs") }
func (l layout) logFile(name string) string   { return filepath.Join(l.logs(), name+".log") }
func (l layout) flexVolume() string           { return filepath.Join(l.dir, "flexvolume") }
func (l layout) pids() string                 { return filepath.Join(l.dir, "pids") }
func (l layout) env() string                  { return filepath.Join(l.dir, "env") }
func (l layout) kubeconfig(who string) string { return filepath.Join(l.dir, who+".kubeconfig") }
func (l layout) adminKubeconfig() string      { return l.kubeconfig("admin") }

// owned lists what `up` creates, so that a fresh `up` over a stopped cluster
// removes exactly that and never anything else a caller keeps in the directory.
func (l layout) owned() []string {
	return []string{
		l.pki(), l.etcdData(), l.logs(), l.flexVolume(), l.pids(), l.env(),
		l.adminKubeconfig(), l.kubeconfig(controllerManager), l.kubeconfig(scheduler),
	}
}

// The env file is read by shell scripts (`. DIR/env`) and by the C++ tests,
// which split each line at the first '='. Values are therefore written without
// quoting, which `up` makes sound by accepting only paths that need none.
var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

func writeEnv(path string, vars [][2]string) error {
	var b strings.Builder
	for _, kv := range vars {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
