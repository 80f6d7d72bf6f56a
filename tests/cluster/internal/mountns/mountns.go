// Package mountns re-executes the running program in a private mount
// namespace, so that its bind mounts (over /var/lib/kubelet, say) are seen by
// it and its children only, and disappear with them.
package mountns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// Inside reports whether this process is the copy Reexec started with the
// same env marker.
func Inside(env string) bool { return os.Getenv(env) == "1" }

// CheckRoot tells why Reexec would fail for want of privilege, before a
// caller prepares anything for it.
func CheckRoot() error {
	if os.Geteuid() != 0 {
		return errors.New("must run as root: it mounts in a private mount namespace (CAP_SYS_ADMIN)")
	}
	return nil
}

// Reexec runs this program again, with the same arguments and env set to 1,
// in a new mount namespace with private propagation (what unshare --mount
// does; Go's Unshareflags also makes / recursively private), and returns its
// exit status. This process stays as a thin parent that forwards SIGTERM,
// SIGINT and SIGHUP, so that whoever started the program can stop it by its
// pid; if the parent is killed outright, the copy gets SIGTERM.
func Reexec(env string) (int, error) {
	if err := CheckRoot(); err != nil {
		return 1, err
	}
	exe, err := os.Executable()
	if err != nil {
		return 1, err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), env+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGTERM}
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("starting in a private mount namespace: %w", err)
	}
	go func() {
		for sig := range signals {
			_ = cmd.Process.Signal(sig)
		}
	}()
	err = cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return exit.ExitCode(), nil
	default:
		return 1, err
	}
}
