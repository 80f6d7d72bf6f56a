package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"hashfoundry.com/device-operator/tests/cluster/internal/proc"
)

// procStat is what /proc says about one process at one moment.
type procStat struct {
	cpuTicks        uint64            // utime + stime of every thread, live or exited
	threadCPU       map[string]uint64 // tid -> ns on CPU (schedstat), live threads only
	rssKiB, anonKiB uint64            // VmRSS and RssAnon
	hwmKiB          uint64            // VmHWM, the peak RSS
}

// cpuSince is the CPU time used between from and s: to the nanosecond from
// the threads' schedstat when every thread of from still lives, else from
// /proc/PID/stat, to 10 ms.
func (s procStat) cpuSince(from procStat) time.Duration {
	var ns uint64
	for tid, before := range from.threadCPU {
		after, ok := s.threadCPU[tid]
		if !ok {
			return s.cpu() - from.cpu() // a thread exited with its share
		}
		ns += after - before
	}
	for tid, after := range s.threadCPU {
		if _, ok := from.threadCPU[tid]; !ok {
			ns += after
		}
	}
	return time.Duration(ns)
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports (sysconf would need cgo).
const clockTicks = 100

func (s procStat) cpu() time.Duration { return time.Duration(s.cpuTicks) * time.Second / clockTicks }
func (s procStat) rssMiB() float64    { return float64(s.rssKiB) / 1024 }
func (s procStat) anonMiB() float64   { return float64(s.anonKiB) / 1024 }
func (s procStat) hwmMiB() float64    { return float64(s.hwmKiB) / 1024 }

func readProcStat(pid int) (procStat, error) {
	var s procStat
	fields, err := proc.StatFields(pid)
	if err != nil {
		return s, err
	}
	// fields[0] is field 3, so utime (14) and stime (15) are 11 and 12.
	if len(fields) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	for _, f := range fields[11:13] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		s.cpuTicks += v
	}
	if s.threadCPU, err = readThreadCPU(pid); err != nil {
		return s, err
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	want := map[string]*uint64{"VmRSS:": &s.rssKiB, "RssAnon:": &s.anonKiB, "VmHWM:": &s.hwmKiB}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == "kB" && want[f[0]] != nil {
			if *want[f[0]], err = strconv.ParseUint(f[1], 10, 64); err != nil {
				return s, fmt.Errorf("/proc/%d/status: %w", pid, err)
			}
			delete(want, f[0])
		}
	}
	if len(want) != 0 {
		return s, fmt.Errorf("/proc/%d/status: no %v", pid, want)
	}
	return s, nil
}

func readThreadCPU(pid int) (map[string]uint64, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	cpu := map[string]uint64{}
	for _, t := range tasks {
		data, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread exited meanwhile
		}
		if err != nil {
			return nil, err
		}
		f := strings.Fields(string(data))
		if len(f) < 1 {
			return nil, fmt.Errorf("%s/%s/schedstat: empty", dir, t.Name())
		}
		if cpu[t.Name()], err = strconv.ParseUint(f[0], 10, 64); err != nil {
			return nil, fmt.Errorf("%s/%s/schedstat: %w", dir, t.Name(), err)
		}
	}
	return cpu, nil
}

// percentile is the nearest-rank q-th percentile of ds (q in (0, 100]).
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := int(math.Ceil(q / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}
