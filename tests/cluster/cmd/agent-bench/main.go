// Command agent-bench measures the devicepool-agent side by side with the
// kubelet's sample device plugin (k8s.io/kubernetes/test/images/sample-device-plugin),
// both registered with the kubelet's own registration server and driven
// through the kubelet's own plugin client (internal/dpkubelet).
//
//	agent-bench [flags] footprint N   RSS and CPU idle, then across N Allocate calls each,
//	                                  and the Allocate latency of those calls
//	agent-bench [flags] health N      device file removed -> kubelet sees Unhealthy (and back), N times
//	agent-bench [flags] restart N     new kubelet.sock -> plugin registered again, N times, and
//	                                  the first Allocate after each
//
// It prints a Markdown result for bench/RESULTS.md on stdout and exits
// non-zero when a plugin misbehaves (no registration, a failed Allocate, a
// health change never seen). --smoke checks only that, with small N; no
// figure is compared with a limit.
//
// The sample plugin registers at the fixed /var/lib/kubelet/device-plugins,
// so agent-bench runs (as root) in a private mount namespace with a
// temporary directory bind-mounted there. The sample plugin also creates a
// file per allocated device in /tmp (/tmp/Dev-1, /tmp/Dev-2); agent-bench
// removes those it created.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
	plugin "k8s.io/kubernetes/pkg/kubelet/cm/devicemanager/plugin/v1beta1"

	"hashfoundry.com/device-operator/tests/cluster/internal/dpkubelet"
	"hashfoundry.com/device-operator/tests/cluster/internal/mountns"
)

const (
	inNamespaceEnv = "HF_AGENT_BENCH_IN_NAMESPACE"
	pluginDir      = "/var/lib/kubelet/device-plugins"
	kubeletSocket  = pluginDir + "/kubelet.sock"
	ourResource    = "hashfoundry.com/custom-device"
	sampleResource = "example.com/resource" // fixed in the sample plugin
	// How long a registration may take: the sample plugin retries its
	// restart every 10 s after a new kubelet.sock.
	registerTimeout = 60 * time.Second
)

type config struct {
	agentBin, sampleBin string
	settle, idle, gap   time.Duration
	smoke               bool
	mode                string
	n                   int
}

func main() {
	var c config
	exe, _ := os.Executable()
	flag.StringVar(&c.agentBin, "agent", os.Getenv("HF_AGENT_BIN"), "devicepool-agent binary (default $HF_AGENT_BIN)")
	flag.StringVar(&c.sampleBin, "sample", filepath.Join(filepath.Dir(exe), "sample-device-plugin"),
		"the kubelet's sample-device-plugin binary")
	flag.DurationVar(&c.settle, "settle", 5*time.Second, "footprint: how long after registering the idle window starts")
	flag.DurationVar(&c.gap, "gap", 0, "health: idle time before each change")
	flag.DurationVar(&c.idle, "idle", time.Minute, "footprint: how long both plugins idle before it is measured")
	flag.BoolVar(&c.smoke, "smoke", false, "check correctness only: no settling, a 1 s idle window, N of at most 20 (2 for restart)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: agent-bench [flags] footprint|health|restart N")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := c.parseArgs(flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "agent-bench: %v\n", err)
		flag.Usage()
		os.Exit(2)
	}
	if !mountns.Inside(inNamespaceEnv) {
		if err := mountns.CheckRoot(); err != nil {
			fail(err)
		}
		if err := os.MkdirAll(pluginDir, 0o755); err != nil {
			fail(err)
		}
		code, err := mountns.Reexec(inNamespaceEnv)
		if err != nil {
			fail(err)
		}
		os.Exit(code)
	}
	if err := run(c); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "agent-bench: %v\n", err)
	os.Exit(1)
}

func (c *config) parseArgs(args []string) error {
	if len(args) != 2 {
		return errors.New("want a mode and a count")
	}
	c.mode = args[0]
	if c.mode != "footprint" && c.mode != "health" && c.mode != "restart" {
		return fmt.Errorf("unknown mode %q", c.mode)
	}
	if _, err := fmt.Sscan(args[1], &c.n); err != nil || c.n < 1 || c.n > 100000 {
		return fmt.Errorf("count %q: want a number from 1 to 100000", args[1])
	}
	if c.smoke {
		c.settle, c.idle = 0, time.Second
		limit := 20
		if c.mode == "restart" {
			limit = 2 // each costs the sample plugin about 10 s
		}
		c.n = min(c.n, limit)
	}
	if c.agentBin == "" {
		return errors.New("--agent (or HF_AGENT_BIN) is required")
	}
	for _, bin := range []string{c.agentBin, c.sampleBin} {
		if _, err := os.Stat(bin); err != nil {
			return err
		}
	}
	return nil
}

// bench is one run: the kubelet's registration server and the two plugins.
type bench struct {
	cfg     config
	base    string
	kubelet *dpkubelet.Handler
	server  plugin.Server
	ours    *pluginProc
	sample  *pluginProc
}

// pluginProc is one device plugin process and its current registration.
type pluginProc struct {
	name     string
	resource string
	devices  []string
	cmd      *exec.Cmd
	log      string
	exited   chan error
	conn     dpkubelet.Conn
}

var logger = logr.Discard() // the kubelet code's own logging is not the subject

func run(c config) error {
	base, err := os.MkdirTemp("/var/tmp", "hf-agent-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	src := filepath.Join(base, "device-plugins")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount(src, pluginDir, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting %s over %s: %w", src, pluginDir, err)
	}
	// The kubelet code's klog output (a ListAndWatch stream ending when a
	// plugin stops, say) goes to a file, shown with the plugins' logs on
	// failure.
	klogFile, err := os.Create(filepath.Join(base, "kubelet.log"))
	if err != nil {
		return err
	}
	defer klogFile.Close()
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	_ = klogFlags.Set("logtostderr", "false")
	_ = klogFlags.Set("stderrthreshold", "FATAL")
	klog.SetOutput(klogFile)
	defer klog.Flush()
	b := &bench{cfg: c, base: base, kubelet: dpkubelet.New()}
	if b.server, err = dpkubelet.Serve(logger, kubeletSocket, b.kubelet); err != nil {
		return err
	}
	defer func() { _ = b.server.Stop(logger) }()

	b.ours = &pluginProc{
		name: "devicepool-agent", resource: ourResource,
		devices: []string{"hashfoundry-device-0", "hashfoundry-device-1"},
		cmd: exec.Command(c.agentBin,
			"--report=false", "--pool=bench", "--node-name=bench", "--resource-name="+ourResource,
			"--discovery=simulated", "--simulated-count=2", "--simulated-prefix=hashfoundry-device",
			"--dev-root="+filepath.Join(base, "dev"), "--sys-root="+filepath.Join(base, "sys"),
			"--kubelet-dir="+pluginDir, "--cdi-dir="+filepath.Join(base, "cdi"),
			"--pod-resources-socket="+filepath.Join(base, "no-pod-resources.sock"),
			"--http-address=127.0.0.1:0"),
	}
	b.sample = &pluginProc{
		name: "sample-device-plugin", resource: sampleResource,
		devices: []string{"Dev-1", "Dev-2"},
		cmd:     exec.Command(c.sampleBin),
	}
	b.sample.cmd.Env = append(os.Environ(), "PLUGIN_SOCK_DIR="+pluginDir)
	for _, id := range b.sample.devices {
		if f := filepath.Join("/tmp", id); !exists(f) {
			defer os.Remove(f)
		}
	}
	for _, p := range b.plugins() {
		if err := b.start(p); err != nil {
			return err
		}
		defer p.stop()
	}
	for _, p := range b.plugins() {
		if err := b.waitRegistered(p); err != nil {
			return b.withLogs(err)
		}
	}

	var res string
	switch c.mode {
	case "footprint":
		res, err = b.footprint()
	case "health":
		res, err = b.health()
	case "restart":
		res, err = b.restart()
	}
	if err != nil {
		return b.withLogs(err)
	}
	fmt.Print(res)
	return nil
}

func (b *bench) plugins() []*pluginProc { return []*pluginProc{b.ours, b.sample} }

func (b *bench) start(p *pluginProc) error {
	p.log = filepath.Join(b.base, p.name+".log")
	f, err := os.Create(p.log)
	if err != nil {
		return err
	}
	defer f.Close()
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	p.exited = make(chan error, 1)
	go func() { p.exited <- p.cmd.Wait() }()
	return nil
}

func (p *pluginProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// waitRegistered waits for p's next registration and its first device list
// with every device Healthy.
func (b *bench) waitRegistered(p *pluginProc) error {
	ctx, cancel := context.WithTimeout(context.Background(), registerTimeout)
	defer cancel()
	go func() {
		select {
		case err := <-p.exited:
			p.exited <- err
			cancel()
		case <-ctx.Done():
		}
	}()
	conn, err := b.kubelet.WaitConnected(ctx, p.resource)
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	p.conn = conn
	_, err = b.kubelet.WaitList(ctx, p.resource, "every device Healthy", func(l dpkubelet.List) bool {
		return p.allHealthy(l)
	})
	return err
}

func (p *pluginProc) allHealthy(l dpkubelet.List) bool {
	if len(l.Health) != len(p.devices) {
		return false
	}
	for _, id := range p.devices {
		if l.Health[id] != pluginapi.Healthy {
			return false
		}
	}
	return true
}

// withLogs adds the tail of each plugin's log to err.
func (b *bench) withLogs(err error) error {
	var sb strings.Builder
	sb.WriteString(err.Error())
	klog.Flush()
	logs := []string{filepath.Join(b.base, "kubelet.log")}
	for _, p := range b.plugins() {
		logs = append(logs, p.log)
	}
	for _, log := range logs {
		data, _ := os.ReadFile(log)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		sb.WriteString(fmt.Sprintf("\n--- last lines of %s:\n%s", filepath.Base(log),
			strings.Join(lines[max(0, len(lines)-15):], "\n")))
	}
	return errors.New(sb.String())
}

// snapshot reads /proc for both plugins.
func (b *bench) snapshot() (map[*pluginProc]procStat, error) {
	out := map[*pluginProc]procStat{}
	for _, p := range b.plugins() {
		s, err := readProcStat(p.cmd.Process.Pid)
		if err != nil {
			return nil, err
		}
		out[p] = s
	}
	return out, nil
}

// footprint measures both plugins idle, then across N Allocate calls each,
// alternating which plugin goes first.
func (b *bench) footprint() (string, error) {
	time.Sleep(b.cfg.settle) // part of what is measured: start-up work is not idling
	before, err := b.snapshot()
	if err != nil {
		return "", err
	}
	idleStart := time.Now()
	time.Sleep(b.cfg.idle) // the measurement window itself, not a synchronisation
	idleFor := time.Since(idleStart)
	idle, err := b.snapshot()
	if err != nil {
		return "", err
	}

	latencies, err := b.allocateEach(b.cfg.n)
	if err != nil {
		return "", err
	}
	after, err := b.snapshot()
	if err != nil {
		return "", err
	}

	o, s := b.ours, b.sample
	var sb strings.Builder
	perMin := func(p *pluginProc) float64 {
		return float64(idle[p].cpuSince(before[p])) / float64(time.Millisecond) / idleFor.Minutes()
	}
	across := func(p *pluginProc) float64 {
		return float64(after[p].cpuSince(idle[p])) / float64(time.Millisecond)
	}
	fmt.Fprintf(&sb, "| agent footprint, 2 simulated devices each | devicepool-agent | sample-device-plugin | ours / sample |\n")
	fmt.Fprintf(&sb, "|---|---|---|---|\n")
	row := func(what string, unit string, a, b float64) {
		fmt.Fprintf(&sb, "| %s | %.2f %s | %.2f %s | %s |\n", what, a, unit, b, unit, ratio(a, b))
	}
	row(fmt.Sprintf("RSS idle (%s)", idleFor.Round(time.Second)), "MiB", idle[o].rssMiB(), idle[s].rssMiB())
	row("anonymous RSS idle", "MiB", idle[o].anonMiB(), idle[s].anonMiB())
	row("CPU idle", "ms/min", perMin(o), perMin(s))
	row(fmt.Sprintf("CPU across %d Allocate calls", b.cfg.n), "ms", across(o), across(s))
	row(fmt.Sprintf("RSS after %d Allocate calls", b.cfg.n), "MiB", after[o].rssMiB(), after[s].rssMiB())
	row(fmt.Sprintf("anonymous RSS after %d Allocate calls", b.cfg.n), "MiB", after[o].anonMiB(), after[s].anonMiB())
	row("peak RSS", "MiB", after[o].hwmMiB(), after[s].hwmMiB())
	fmt.Fprintf(&sb, "\n| Allocate through the kubelet's plugin client, %d calls each | devicepool-agent | sample-device-plugin | ours / sample |\n", b.cfg.n)
	fmt.Fprintf(&sb, "|---|---|---|---|\n")
	for _, q := range []float64{50, 99} {
		a, c := percentile(latencies[o], q), percentile(latencies[s], q)
		fmt.Fprintf(&sb, "| p%.0f | %s | %s | %s |\n", q, us(a), us(c), ratio(float64(a), float64(c)))
	}
	return sb.String(), nil
}

// allocateEach makes n Allocate calls to each plugin, alternating which goes
// first, and returns their latencies.
func (b *bench) allocateEach(n int) (map[*pluginProc][]time.Duration, error) {
	latencies := map[*pluginProc][]time.Duration{}
	for i := 0; i < n; i++ {
		order := b.plugins()
		if i%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, p := range order {
			d, err := b.allocate(p, p.devices[i%len(p.devices)])
			if err != nil {
				return nil, fmt.Errorf("Allocate call %d of %s: %w", i+1, p.name, err)
			}
			latencies[p] = append(latencies[p], d)
		}
	}
	return latencies, nil
}

// allocate asks p for one device the way the device manager does, through
// the kubelet's connection to it, and checks the answer mounts that device.
func (b *bench) allocate(p *pluginProc, id string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := &pluginapi.AllocateRequest{ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: []string{id}}}}
	start := time.Now()
	resp, err := p.conn.Plugin.API().Allocate(ctx, req)
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if len(resp.ContainerResponses) != 1 || len(resp.ContainerResponses[0].Mounts) != 1 ||
		!strings.Contains(resp.ContainerResponses[0].Mounts[0].HostPath, id) {
		return 0, fmt.Errorf("answer %v does not mount %s", resp, id)
	}
	return d, nil
}

// health removes one of the agent's device files and restores it, N times,
// timing each change until the kubelet's ListAndWatch receiver has it.
func (b *bench) health() (string, error) {
	p := b.ours
	id := p.devices[1]
	file := filepath.Join(b.base, "dev", id)
	var down, up []time.Duration
	for i := 0; i < b.cfg.n; i++ {
		for _, unhealthy := range []bool{true, false} {
			time.Sleep(b.cfg.gap) // idle between changes, as on a real node
			want := pluginapi.Healthy
			if unhealthy {
				want = pluginapi.Unhealthy
			}
			start := time.Now()
			var err error
			if unhealthy {
				err = os.Remove(file)
			} else {
				err = os.WriteFile(file, []byte("restored\n"), 0o644)
			}
			if err != nil {
				return "", err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			l, err := b.kubelet.WaitList(ctx, p.resource, id+" "+want, func(l dpkubelet.List) bool {
				return l.Health[id] == want && l.Health[p.devices[0]] == pluginapi.Healthy
			})
			cancel()
			if err != nil {
				return "", fmt.Errorf("change %d: %w", i+1, err)
			}
			if unhealthy {
				down = append(down, l.At.Sub(start))
			} else {
				up = append(up, l.At.Sub(start))
			}
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "| health propagation to the kubelet, devicepool-agent, %d changes each way | p50 | p99 | max |\n", b.cfg.n)
	fmt.Fprintf(&sb, "|---|---|---|---|\n")
	fmt.Fprintf(&sb, "| device file removed -> Unhealthy | %s | %s | %s |\n", ms(percentile(down, 50)), ms(percentile(down, 99)), ms(percentile(down, 100)))
	fmt.Fprintf(&sb, "| device file restored -> Healthy | %s | %s | %s |\n", ms(percentile(up, 50)), ms(percentile(up, 99)), ms(percentile(up, 100)))
	fmt.Fprintf(&sb, "\nTarget under 100 ms (p99 to Unhealthy): %s. The sample plugin has no health source to compare:\n"+
		"its devices change only through the stub's Go API.\n", met(percentile(down, 99) < 100*time.Millisecond))
	return sb.String(), nil
}

// restart stops the kubelet's registration server and starts a new one
// (which removes every socket in the directory, as a kubelet restart does),
// N times, timing each plugin's new registration from the new server's start.
func (b *bench) restart() (string, error) {
	delays := map[*pluginProc][]time.Duration{}
	firstAllocate := map[*pluginProc][]time.Duration{}
	for i := 0; i < b.cfg.n; i++ {
		if err := b.server.Stop(logger); err != nil {
			return "", err
		}
		start := time.Now()
		var err error
		if b.server, err = dpkubelet.Serve(logger, kubeletSocket, b.kubelet); err != nil {
			return "", err
		}
		for _, p := range b.plugins() {
			if err := b.waitRegistered(p); err != nil {
				return "", fmt.Errorf("restart %d: %w", i+1, err)
			}
			delays[p] = append(delays[p], p.conn.At.Sub(start))
			// What a pod admitted right after the restart waits for.
			d, err := b.allocate(p, p.devices[0])
			if err != nil {
				return "", fmt.Errorf("first Allocate after restart %d: %w", i+1, err)
			}
			firstAllocate[p] = append(firstAllocate[p], d)
		}
	}
	o, s := b.ours, b.sample
	var sb strings.Builder
	fmt.Fprintf(&sb, "| kubelet restart -> registered again, %d restarts | devicepool-agent | sample-device-plugin | ours / sample |\n", b.cfg.n)
	fmt.Fprintf(&sb, "|---|---|---|---|\n")
	for _, q := range []float64{50, 99} {
		a, c := percentile(delays[o], q), percentile(delays[s], q)
		fmt.Fprintf(&sb, "| p%.0f | %s | %s | %s |\n", q, ms(a), ms(c), ratio(float64(a), float64(c)))
	}
	for _, q := range []float64{50, 99} {
		a, c := percentile(firstAllocate[o], q), percentile(firstAllocate[s], q)
		fmt.Fprintf(&sb, "| first Allocate after it, p%.0f | %s | %s | %s |\n", q, us(a), us(c), ratio(float64(a), float64(c)))
	}
	return sb.String(), nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3g", a/b)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }
