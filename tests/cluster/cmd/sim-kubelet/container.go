package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// container is one container of a pod that runs processes: its current (or
// last) instance, restart count, crash back-off and probe results.
//
// Thread-safety: fields after mu are guarded by it; the pod worker, the
// instance's waiter and its probers all touch them.
type container struct {
	spec v1.Container
	init bool // an init container: runs to completion before the next
	wake func()

	mu           sync.Mutex
	inst         *instance
	restartCount int32
	lastTerm     *v1.ContainerStateTerminated // of the instance before inst
	lastLog      string                       // log file of the instance before inst
	waiting      *v1.ContainerStateWaiting    // why no instance runs, when none does
	backoff      time.Duration                // next crash back-off
	notBefore    time.Time                    // no restart before this
}

// instance is one run of a container: one process.
type instance struct {
	id        string
	cmd       *exec.Cmd
	spec      execSpec // what it runs with: env, working directory, mounts
	logFile   string   // its output, on the host
	startedAt time.Time
	exited    chan struct{}

	// Guarded by container.mu.
	term    *v1.ContainerStateTerminated
	ready   bool // readiness probe (true without one)
	started bool // startup probe (true without one)
	killing bool // stopped on purpose: not a crash
	handled bool // its exit has been acted upon
}

func (c *container) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inst != nil && c.inst.term == nil
}

// exitedInstance is the current instance if it has exited.
func (c *container) exitedInstance() *v1.ContainerStateTerminated {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inst == nil {
		return nil
	}
	return c.inst.term
}

// launch starts a new instance: container-exec in a new mount namespace and
// process group, output appended to the container's log file. It returns
// once the container's binary has been exec'ed, or with the reason it could
// not be. msgFile is the host file mounted at the container's
// terminationMessagePath ("" when it has none).
func (c *container) launch(spec execSpec, specFile, logFile, msgFile, id string) (*instance, error) {
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	for _, f := range []string{specFile, logFile} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(specFile, data, 0o600); err != nil {
		return nil, err
	}
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer statusR.Close()
	self, err := os.Executable()
	if err != nil {
		statusW.Close()
		return nil, err
	}
	cmd := exec.Command(self, containerExecCommand, specFile)
	cmd.Env = []string{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.ExtraFiles = []*os.File{statusW}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Unshareflags: syscall.CLONE_NEWNS,
		// Its own group, so that stopping it reaches its children too.
		Setpgid: true,
		// A node that dies takes its containers along.
		Pdeathsig: syscall.SIGKILL,
	}
	err = cmd.Start()
	statusW.Close()
	if err != nil {
		return nil, err
	}
	msg, _ := io.ReadAll(statusR)
	if len(msg) > 0 {
		_ = cmd.Wait()
		return nil, errors.New(string(msg))
	}
	inst := &instance{id: id, cmd: cmd, spec: spec, logFile: logFile, startedAt: time.Now(), exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		term := &v1.ContainerStateTerminated{
			ExitCode:    int32(cmd.ProcessState.ExitCode()),
			StartedAt:   metav1.NewTime(inst.startedAt.Truncate(time.Second)),
			FinishedAt:  metav1.NewTime(time.Now().Truncate(time.Second)),
			ContainerID: id,
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			term.ExitCode, term.Signal = 128+int32(ws.Signal()), int32(ws.Signal())
		}
		term.Reason = "Completed"
		if term.ExitCode != 0 {
			term.Reason = "Error"
		}
		term.Message = terminationMessage(msgFile, c.spec.TerminationMessagePolicy, term.ExitCode, logFile)
		c.mu.Lock()
		inst.term = term
		c.mu.Unlock()
		close(inst.exited)
		c.wake()
	}()
	return inst, nil
}

// kill stops the running instance as the kubelet does: SIGTERM to its
// process group, SIGKILL once the grace period is over. It returns once the
// process is gone. final says the pod is stopping; otherwise (a failed
// liveness probe) the exit counts as a crash and the container restarts.
func (c *container) kill(grace time.Duration, final bool) {
	c.mu.Lock()
	inst := c.inst
	if inst == nil || inst.term != nil || inst.cmd == nil {
		c.mu.Unlock()
		return
	}
	inst.killing = final
	c.mu.Unlock()
	pgid := inst.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-inst.exited:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-inst.exited
	}
}

// status is the container's entry in the pod status.
func (c *container) status() v1.ContainerStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := v1.ContainerStatus{Name: c.spec.Name, Image: c.spec.Image, ImageID: "sim://" + c.spec.Image, RestartCount: c.restartCount}
	if c.lastTerm != nil {
		s.LastTerminationState.Terminated = c.lastTerm.DeepCopy()
	}
	started := false
	switch {
	case c.inst != nil && c.inst.term == nil:
		s.ContainerID = c.inst.id
		s.State.Running = &v1.ContainerStateRunning{StartedAt: metav1.NewTime(c.inst.startedAt.Truncate(time.Second))}
		s.Ready, started = c.inst.ready && c.inst.started, c.inst.started
	case c.waiting != nil:
		s.State.Waiting = c.waiting.DeepCopy()
		if c.inst != nil {
			s.LastTerminationState.Terminated = c.inst.term.DeepCopy()
		}
	case c.inst != nil:
		s.ContainerID = c.inst.id
		s.State.Terminated = c.inst.term.DeepCopy()
		// A completed init container counts as ready, as the kubelet has it.
		s.Ready = c.init && c.inst.term.ExitCode == 0
	default:
		s.State.Waiting = &v1.ContainerStateWaiting{Reason: "ContainerCreating"}
	}
	s.Started = &started
	return s
}

// shouldRestart applies the restart policy to an exited instance.
func shouldRestart(policy v1.RestartPolicy, term *v1.ContainerStateTerminated) bool {
	switch policy {
	case v1.RestartPolicyNever:
		return false
	case v1.RestartPolicyOnFailure:
		return term.ExitCode != 0
	}
	return true
}

// crashed records an instance that exited on its own: the next start waits
// out the back-off, which doubles each time (the first restart is
// immediate, as with the kubelet) and resets after a long healthy run.
func (c *container) crashed(o *options, podName string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	term := c.inst.term
	if term.FinishedAt.Sub(c.inst.startedAt) > 2*o.maxCrashBackoff {
		c.backoff = 0
	}
	if c.backoff == 0 {
		c.notBefore = time.Time{}
		c.backoff = o.crashBackoff
		return
	}
	c.notBefore = term.FinishedAt.Time.Add(c.backoff)
	c.waiting = &v1.ContainerStateWaiting{
		Reason:  "CrashLoopBackOff",
		Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", c.backoff, c.spec.Name, podName),
	}
	c.backoff = min(2*c.backoff, o.maxCrashBackoff)
}

// startFailed records an instance that could not be started (the
// runtime's StartError), which backs off like a crash.
func (c *container) startFailed(o *options, podName, id, reason, msg string) {
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	c.mu.Lock()
	term := &v1.ContainerStateTerminated{ExitCode: 128, Reason: reason, Message: msg, StartedAt: now, FinishedAt: now, ContainerID: id}
	c.inst = &instance{id: id, startedAt: now.Time, exited: make(chan struct{}), term: term, handled: true}
	close(c.inst.exited)
	c.mu.Unlock()
	c.crashed(o, podName)
	c.mu.Lock()
	if c.waiting == nil {
		c.waiting = &v1.ContainerStateWaiting{Reason: "RunContainerError", Message: msg}
	}
	c.mu.Unlock()
}

// delayStart backs off after a failed attempt to create the container
// (bad config, missing binary), like a crash, so the error is not retried
// and reported every second.
func (c *container) delayStart(o *options) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.backoff == 0 {
		c.backoff = o.crashBackoff
	}
	c.notBefore = time.Now().Add(c.backoff)
	c.backoff = min(2*c.backoff, o.maxCrashBackoff)
}

// setWaiting records why the container cannot start yet (e.g.
// CreateContainerConfigError).
func (c *container) setWaiting(reason, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waiting = &v1.ContainerStateWaiting{Reason: reason, Message: msg}
}

// mayStart reports whether a restart is due: not running, and past the
// back-off.
func (c *container) mayStart(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return (c.inst == nil || c.inst.term != nil) && !now.Before(c.notBefore)
}

// begin installs a new running instance; the previous one becomes the last
// termination state.
func (c *container) begin(inst *instance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inst != nil {
		c.lastTerm, c.lastLog = c.inst.term, c.inst.logFile
		c.restartCount++
	}
	c.inst = inst
	c.waiting = nil
}

// nextInstanceID names the instance about to start.
func (c *container) nextInstanceID(podUID string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.restartCount
	if c.inst != nil {
		n++
	}
	return fmt.Sprintf("sim://%s-%s-%d", shortUID(podUID), c.spec.Name, n)
}

func (c *container) nextRestartNumber() int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inst != nil {
		return c.restartCount + 1
	}
	return c.restartCount
}

func shortUID(uid string) string {
	return strings.ReplaceAll(uid, "-", "")[:12]
}
