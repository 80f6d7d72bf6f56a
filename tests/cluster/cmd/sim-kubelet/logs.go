package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	v1 "k8s.io/api/core/v1"
	kubecontainer "k8s.io/kubernetes/pkg/kubelet/container"
	"k8s.io/kubernetes/pkg/util/tail"
)

// A container's log file holds its raw output (stdout and stderr
// together, as the process wrote it), not the CRI log format: there are no
// per-line timestamps or stream tags.

// followPoll is how often a followed log is checked for new output; the
// kubelet waits on inotify instead, which a file written by another process
// without a runtime in between makes no faster here.
const followPoll = 200 * time.Millisecond

// writeLogs copies a container's log file to w as `kubectl logs` asks:
// the last TailLines lines, at most LimitBytes bytes, and with Follow new
// output until exited is closed (the instance ended) or ctx is done.
func writeLogs(ctx context.Context, path string, opts *v1.PodLogOptions, w io.Writer, exited <-chan struct{}) error {
	switch {
	case opts.Timestamps:
		return errors.New("timestamps: sim-kubelet's container logs are raw output without timestamps")
	case opts.SinceSeconds != nil || opts.SinceTime != nil:
		return errors.New("sinceSeconds/sinceTime: sim-kubelet's container logs are raw output without timestamps")
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	start := int64(0)
	if opts.TailLines != nil {
		if start, err = tailOffset(f, *opts.TailLines); err != nil {
			return err
		}
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return err
	}
	out := &limitedWriter{w: w, left: -1}
	if opts.LimitBytes != nil {
		out.left = *opts.LimitBytes
	}
	copyNew := func() error {
		_, err := io.Copy(out, f)
		return err
	}
	if err := copyNew(); err != nil || !opts.Follow {
		return ignoreLimit(err)
	}
	tick := time.NewTicker(followPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-exited:
			// What the process wrote before it ended, then stop, as the
			// kubelet's follow does once the container has exited.
			return ignoreLimit(copyNew())
		case <-tick.C:
			if err := copyNew(); err != nil {
				return ignoreLimit(err)
			}
		}
	}
}

// errLimitReached ends a copy once LimitBytes have been written.
var errLimitReached = errors.New("limitBytes reached")

func ignoreLimit(err error) error {
	if errors.Is(err, errLimitReached) {
		return nil
	}
	return err
}

// limitedWriter passes on at most left bytes (all when left < 0).
type limitedWriter struct {
	w    io.Writer
	left int64
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.left < 0 {
		return l.w.Write(p)
	}
	if l.left == 0 {
		return 0, errLimitReached
	}
	short := int64(len(p)) > l.left
	if short {
		p = p[:l.left]
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	if err == nil && short {
		err = errLimitReached
	}
	return n, err
}

// tailOffset is where the last n lines of f begin. A last line without a
// newline counts as a line, as with the kubelet's log reader.
func tailOffset(f *os.File, n int64) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if n <= 0 {
		return size, nil
	}
	const block = 4096
	buf := make([]byte, block)
	pos, newlines := size, int64(0)
	// A final newline ends the last line; it does not start another.
	skipFinal := true
	for pos > 0 {
		chunk := min(int64(block), pos)
		pos -= chunk
		if _, err := f.ReadAt(buf[:chunk], pos); err != nil {
			return 0, err
		}
		for i := chunk - 1; i >= 0; i-- {
			if buf[i] != '\n' {
				skipFinal = false
				continue
			}
			if skipFinal {
				skipFinal = false
				continue
			}
			if newlines++; newlines == n {
				return pos + i + 1, nil
			}
		}
	}
	return 0, nil
}

// terminationMessage is what the kubelet reports as an exited container's
// message: the termination message file (at most 4096 bytes, its end),
// or, with FallbackToLogsOnError, a failed container whose file is empty,
// the end of its log: the last 80 lines, at most their last 2048 bytes.
func terminationMessage(msgFile string, policy v1.TerminationMessagePolicy, exitCode int32, logFile string) string {
	fallback := policy == v1.TerminationMessageFallbackToLogsOnError && exitCode != 0
	if msgFile != "" {
		data, _, err := tail.ReadAtMost(msgFile, kubecontainer.MaxContainerTerminationMessageLength)
		switch {
		case err != nil && !os.IsNotExist(err):
			return fmt.Sprintf("Error on reading termination log %s: %v", msgFile, err)
		case len(data) > 0 || !fallback:
			return string(data)
		}
	}
	if !fallback {
		return ""
	}
	f, err := os.Open(logFile)
	if err != nil {
		return ""
	}
	defer f.Close()
	start, err := tailOffset(f, kubecontainer.MaxContainerTerminationMessageLogLines)
	if err != nil {
		return ""
	}
	var b bytes.Buffer
	if _, err := io.Copy(&b, io.NewSectionReader(f, start, 1<<62)); err != nil {
		return ""
	}
	data := b.Bytes()
	if len(data) > kubecontainer.MaxContainerTerminationMessageLogLength {
		data = data[len(data)-kubecontainer.MaxContainerTerminationMessageLogLength:]
	}
	return string(data)
}
