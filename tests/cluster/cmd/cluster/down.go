package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"hashfoundry.com/device-operator/tests/cluster/internal/proc"
)

// A component gets this long to shut down cleanly after SIGTERM (the apiserver
// drains its requests first) and this long to disappear after SIGKILL.
const (
	termGrace = 15 * time.Second
	killGrace = 5 * time.Second
)

func cmdDown(args []string) error {
	if len(args) != 1 {
		return usageError("usage: cluster down DIR")
	}
	l, err := newLayout(args[0])
	if err != nil {
		return err
	}
	procs, err := proc.Read(l.pids())
	if err != nil {
		return err
	}
	running := proc.Running(procs)
	if err := stopProcesses(procs); err != nil {
		return err
	}
	// Without these, `up` and the C++ tests treat the directory as holding no
	// cluster; logs, certificates and etcd data stay for post-mortems.
	for _, p := range []string{l.pids(), l.env()} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "cluster down: stopped %d process(es) in %s\n", len(running), l.dir)
	return nil
}

// stopProcesses ends the recorded processes in reverse start order, so that
// clients go before the apiserver and the apiserver before etcd, and returns
// only once each is gone.
func stopProcesses(procs []proc.Process) error {
	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		if err := terminate(procs[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func terminate(p proc.Process) error {
	// Each component leads its own process group (it was started with
	// setsid), so signalling the group also reaches anything it spawned.
	for _, step := range []struct {
		sig   syscall.Signal
		grace time.Duration
	}{{syscall.SIGTERM, termGrace}, {syscall.SIGKILL, killGrace}} {
		if !p.Alive() {
			return nil
		}
		if err := syscall.Kill(-p.PID, step.sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("signalling %s (pid %d): %w", p.Name, p.PID, err)
		}
		if waitGone(p, step.grace) {
			return nil
		}
	}
	return fmt.Errorf("%s (pid %d) survived SIGKILL for %s", p.Name, p.PID, killGrace)
}

// waitGone polls, because the process is usually not our child: `up` has
// exited and whatever adopted the process is the one that may reap it.
func waitGone(p proc.Process, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for p.Alive() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond) // poll interval: a non-child pid has no exit notification
	}
	return true
}
