package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// containerExecCommand is the internal mode that becomes one container: the
// node starts it in a new mount namespace (a copy of the node's), it
// bind-mounts the container's volumes, device mounts and service-account
// files to their container paths, and execs the container's binary. Only
// the mount namespace is private: processes share the host's network, PIDs
// and root filesystem.
const containerExecCommand = "container-exec"

// startErrorCode is the exit status of a container that could not be
// started; the message went to the status pipe.
const startErrorCode = 126

// execSpec is what the node hands container-exec, as JSON in a file.
type execSpec struct {
	Path   string      `json:"path"` // binary on the host
	Args   []string    `json:"args"` // argv, argv[0] included
	Env    []string    `json:"env"`
	Dir    string      `json:"dir"`
	Mounts []bindMount `json:"mounts"`
}

type bindMount struct {
	Source   string `json:"source"` // on the host
	Target   string `json:"target"` // in the container
	ReadOnly bool   `json:"readOnly"`
}

// containerExec runs as `container-exec SPEC`, with file descriptor 3 the
// write end of a status pipe: it is close-on-exec, so the node reads EOF
// when the exec succeeded and an error message when it did not.
func containerExec(args []string) int {
	status := os.NewFile(3, "status")
	syscall.CloseOnExec(3)
	fail := func(err error) int {
		fmt.Fprintf(status, "%v", err)
		return startErrorCode
	}
	if len(args) != 1 {
		return fail(fmt.Errorf("usage: %s SPEC", containerExecCommand))
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return fail(err)
	}
	var spec execSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		return fail(fmt.Errorf("%s: %w", args[0], err))
	}
	if err := privateDev(); err != nil {
		return fail(fmt.Errorf("the container's /dev: %w", err))
	}
	if err := mountAll(spec.Mounts); err != nil {
		return fail(err)
	}
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	if err := os.Chdir(dir); err != nil {
		return fail(fmt.Errorf("working directory: %w", err))
	}
	err = syscall.Exec(spec.Path, spec.Args, spec.Env)
	return fail(fmt.Errorf("exec %s: %w", spec.Path, err))
}

// privateDev gives the container a /dev of its own, as container runtimes
// do: a tmpfs with the host's null, zero, full, random, urandom and tty bound
// in, the usual links and a /dev/shm. The mount points of its devices and of
// its termination log are then made there, not on the host's /dev, and a
// device file exists in the container only when it was handed over. It is
// built aside and moved onto /dev, while the host's nodes are still reachable.
func privateDev() error {
	dir, err := os.MkdirTemp("", "sim-kubelet-dev-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID, "mode=755,size=65536k"); err != nil {
		return fmt.Errorf("tmpfs: %w", err)
	}
	for _, name := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		if _, err := os.Stat("/dev/" + name); err != nil {
			continue
		}
		target := filepath.Join(dir, name)
		f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o666)
		if err != nil {
			return err
		}
		f.Close()
		if err := syscall.Mount("/dev/"+name, target, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding /dev/%s: %w", name, err)
		}
	}
	for link, to := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
		"stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(to, filepath.Join(dir, link)); err != nil {
			return err
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "shm"), 0o1777); err != nil {
		return err
	}
	if err := syscall.Mount("shm", filepath.Join(dir, "shm"), "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=1777,size=65536k"); err != nil {
		return fmt.Errorf("/dev/shm: %w", err)
	}
	if err := syscall.Mount(dir, "/dev", "", syscall.MS_MOVE, ""); err != nil {
		return fmt.Errorf("moving it onto /dev: %w", err)
	}
	return nil
}

// mountAll mounts parents before children, as container runtimes do, so a
// volume inside another volume is not hidden by it.
func mountAll(mounts []bindMount) error {
	sorted := append([]bindMount(nil), mounts...)
	sort.SliceStable(sorted, func(i, j int) bool {
		return strings.Count(filepath.Clean(sorted[i].Target), "/") < strings.Count(filepath.Clean(sorted[j].Target), "/")
	})
	for _, m := range sorted {
		if err := bind(m); err != nil {
			return err
		}
	}
	return nil
}

func bind(m bindMount) error {
	st, err := os.Stat(m.Source)
	if err != nil {
		return fmt.Errorf("mount source: %w", err)
	}
	// A missing mount point is created on the host filesystem, where it stays
	// empty: only this container's namespace ever mounts anything on it.
	if st.IsDir() {
		err = os.MkdirAll(m.Target, 0o755)
	} else if err = os.MkdirAll(filepath.Dir(m.Target), 0o755); err == nil {
		var f *os.File
		if f, err = os.OpenFile(m.Target, os.O_CREATE|os.O_RDONLY, 0o644); err == nil {
			err = f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("mount point %s: %w", m.Target, err)
	}
	if err := syscall.Mount(m.Source, m.Target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mounting %s on %s: %w", m.Source, m.Target, err)
	}
	if m.ReadOnly {
		if err := syscall.Mount("", m.Target, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("making %s read-only: %w", m.Target, err)
		}
	}
	return nil
}
