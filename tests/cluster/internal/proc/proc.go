// Package proc records the processes `cluster up` starts and tells whether
// they still run. It is shared by the cluster tool and its test, which checks
// that `cluster down` really ended them, and agent-bench reads CPU times
// through StatFields.
package proc

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Process identifies one started component. A pid alone is not an identity:
// after the process exits the kernel may hand the number to an unrelated
// process, which `down` must never signal. The start time (clock ticks since
// boot, field 22 of /proc/PID/stat) is fixed for a process's lifetime, so the
// pair is.
type Process struct {
	Name      string
	PID       int
	StartTime uint64
}

// Identify returns the Process running as pid.
func Identify(name string, pid int) (Process, error) {
	_, start, err := stat(pid)
	return Process{Name: name, PID: pid, StartTime: start}, err
}

// StatFields returns the fields of /proc/PID/stat from field 3 (state) on:
// field N of proc(5) is StatFields(pid)[N-3]. The command name (field 2) is
// parenthesised and may itself contain spaces and parentheses, so fields are
// counted from the last ')'.
func StatFields(pid int) ([]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(data)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return strings.Fields(s[end+1:]), nil
}

// stat returns a process's state letter and start time.
func stat(pid int) (state byte, startTime uint64, err error) {
	fields, err := StatFields(pid)
	if err != nil {
		return 0, 0, err
	}
	// fields[0] is field 3 (state), so field 22 (starttime) is fields[19].
	if len(fields) < 20 || len(fields[0]) != 1 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	startTime, err = strconv.ParseUint(fields[19], 10, 64)
	return fields[0][0], startTime, err
}

// Alive reports whether the recorded process still runs. A zombie counts as
// gone: it holds no ports or files, and once `up` has exited its parent is
// whatever adopts orphans on this machine, which may never reap it.
func (p Process) Alive() bool {
	state, start, err := stat(p.PID)
	if err != nil || start != p.StartTime {
		return false
	}
	return state != 'Z' && state != 'X'
}

// Append adds p to the pids file at path, one "NAME PID STARTTIME" line each.
func Append(path string, p Process) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, werr := fmt.Fprintf(f, "%s %d %d\n", p.Name, p.PID, p.StartTime)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

// Read returns the processes in the pids file at path, in start order, and no
// error when there is no such file.
func Read(path string) ([]Process, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var procs []Process
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var p Process
		if _, err := fmt.Sscanf(sc.Text(), "%s %d %d", &p.Name, &p.PID, &p.StartTime); err != nil {
			return nil, fmt.Errorf("%s: bad line %q: %w", path, sc.Text(), err)
		}
		procs = append(procs, p)
	}
	return procs, sc.Err()
}

// Running returns those of procs that are Alive.
func Running(procs []Process) []Process {
	var out []Process
	for _, p := range procs {
		if p.Alive() {
			out = append(out, p)
		}
	}
	return out
}
