package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"hashfoundry.com/device-operator/tests/cluster/internal/proc"
)

// cmdStop and cmdStart take one component of a running cluster down and up
// again, for fault tests: an API server restart (the clients' watches break
// and they list again), or an outage of any length in between. stop records
// the component's command line, since only the running process knows the
// ports and files `up` chose; start runs it again with the same arguments,
// records the new process for `down`, and for the apiserver waits for
// /readyz.
func cmdStop(args []string) error {
	if len(args) != 2 {
		return usageError("usage: cluster stop DIR COMPONENT")
	}
	l, err := newLayout(args[0])
	if err != nil {
		return err
	}
	p, err := runningComponent(l, args[1])
	if err != nil {
		return err
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID))
	if err != nil {
		return err
	}
	if err := os.WriteFile(stoppedFile(l, p.Name), cmdline, 0o644); err != nil {
		return err
	}
	return terminate(p)
}

func cmdStart(args []string) error {
	if len(args) != 2 {
		return usageError("usage: cluster start DIR COMPONENT")
	}
	l, err := newLayout(args[0])
	if err != nil {
		return err
	}
	name := args[1]
	cmdline, err := os.ReadFile(stoppedFile(l, name))
	if err != nil {
		return fmt.Errorf("%s was not stopped with `cluster stop`: %w", name, err)
	}
	argv := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
	cmd, _, err := launch(l, name, argv, os.O_APPEND)
	if err != nil {
		return err
	}
	_ = os.Remove(stoppedFile(l, name))
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if name != apiserver {
		return nil
	}
	admin, err := clientFor(l.adminKubeconfig())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		body, err := admin.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && bytes.Equal(bytes.TrimSpace(body), []byte("ok")) {
			return nil
		}
		select {
		case err := <-exited:
			printLogTail(l.logFile(name), 30)
			return fmt.Errorf("%s exited while starting: %v", name, err)
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s /readyz: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond): // poll interval
		}
	}
}

func stoppedFile(l layout, name string) string {
	return filepath.Join(l.dir, "stopped-"+name+".cmdline")
}

// runningComponent is the live process `up` (or `start`) recorded as name.
func runningComponent(l layout, name string) (proc.Process, error) {
	procs, err := proc.Read(l.pids())
	if err != nil {
		return proc.Process{}, err
	}
	for _, p := range proc.Running(procs) {
		if p.Name == name {
			return p, nil
		}
	}
	return proc.Process{}, fmt.Errorf("no running %s in %s", name, l.dir)
}
