// Command cluster runs a real, local Kubernetes control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler) for the operator's
// tests and demo, from binaries built out of the Go module graph. It lives in
// the same directory as those binaries; see tests/cluster/README.md.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const usage = `usage: cluster COMMAND ...

  up DIR [--apiserver-arg=FLAG ...] [--timeout=3m]
        start a control plane whose state lives in DIR; returns once it is ready
  down DIR
        stop every process "up DIR" started
  sa-kubeconfig DIR --namespace NS --serviceaccount SA --out FILE [--duration 1h] [--bound-pod NAME]
        write a kubeconfig holding a TokenRequest token for the ServiceAccount
  node-kubeconfig DIR NODE --out FILE
        write a client-certificate kubeconfig for system:node:NODE
  bin-dir
        print the directory holding the control-plane binaries and kubectl
  stop DIR COMPONENT
        stop one component (etcd, kube-apiserver, ...), remembering its command line
  start DIR COMPONENT
        start a stopped component again; for kube-apiserver, returns once it is ready
`

// Exit statuses: 1 for a failure, 2 for bad usage, 3 when `up` finds a cluster
// already running in DIR.
func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	commands := map[string]func([]string) error{
		"up":              cmdUp,
		"down":            cmdDown,
		"sa-kubeconfig":   cmdSAKubeconfig,
		"node-kubeconfig": cmdNodeKubeconfig,
		"bin-dir":         cmdBinDir,
		"stop":            cmdStop,
		"start":           cmdStart,
	}
	run, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "cluster: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	err := run(os.Args[2:])
	var usageErr usageError
	switch {
	case err == nil:
		return
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case errors.As(err, &usageErr):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	case errors.Is(err, errAlreadyRunning):
		fmt.Fprintf(os.Stderr, "cluster %s: %v\n", os.Args[1], err)
		os.Exit(3)
	default:
		fmt.Fprintf(os.Stderr, "cluster %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

type usageError string

func (e usageError) Error() string { return string(e) }

func cmdBinDir(args []string) error {
	if len(args) != 0 {
		return usageError("usage: cluster bin-dir")
	}
	dir, err := binDir()
	if err != nil {
		return err
	}
	fmt.Println(dir)
	return nil
}

// binDir is where hack/build.sh put this tool, next to the binaries it runs.
func binDir() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	exe, err = filepath.EvalSymlinks(exe)
	if err != nil {
		return "", err
	}
	return filepath.Dir(exe), nil
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// parseInterspersed parses flags that may come before, between or after the
// positional arguments (`up DIR --apiserver-arg=...`), which the flag package
// alone stops at.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// printLogTail copies the last lines of a component's log to stderr, which is
// usually all it takes to see why the component failed.
func printLogTail(path string, lines int) {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "(no log: %v)\n", err)
		return
	}
	defer f.Close()
	var tail []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		tail = append(tail, sc.Text())
		if len(tail) > lines {
			tail = tail[1:]
		}
	}
	fmt.Fprintf(os.Stderr, "--- last %d lines of %s ---\n%s\n--- end of %s ---\n",
		len(tail), path, strings.Join(tail, "\n"), filepath.Base(path))
}
