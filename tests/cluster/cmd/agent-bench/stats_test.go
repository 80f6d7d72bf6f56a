package main

import (
	"os"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 0.5: time.Millisecond} {
		if got := percentile(ds, q); got != want {
			t.Errorf("p%v = %v, want %v", q, got, want)
		}
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("p99 of one = %v, want 7", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of none = %v, want 0", got)
	}
}

func TestReadProcStatOfSelf(t *testing.T) {
	s, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.rssKiB == 0 || s.anonKiB == 0 || s.hwmKiB < s.rssKiB {
		t.Errorf("stat %+v: want a non-zero RSS, anonymous RSS, and a peak no lower than it", s)
	}
	if _, err := readProcStat(1 << 30); err == nil {
		t.Error("no error for a pid that cannot exist")
	}
}

func TestCPUSinceUsesThreadsUnlessOneExited(t *testing.T) {
	from := procStat{cpuTicks: 100, threadCPU: map[string]uint64{"1": 1000, "2": 5000}}
	to := procStat{cpuTicks: 103, threadCPU: map[string]uint64{"1": 1500, "2": 5000, "3": 250}}
	if got := to.cpuSince(from); got != 750 {
		t.Errorf("with every thread alive: %v, want 750ns (500 more on one, 250 on a new one)", got)
	}
	gone := procStat{cpuTicks: 103, threadCPU: map[string]uint64{"1": 1500}}
	if got := gone.cpuSince(from); got != 30*time.Millisecond {
		t.Errorf("after a thread exited: %v, want the 3 ticks of /proc/PID/stat", got)
	}
}
