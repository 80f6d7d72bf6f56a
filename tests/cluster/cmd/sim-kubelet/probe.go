package main

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/probe"
	grpcprobe "k8s.io/kubernetes/pkg/probe/grpc"
	httpprobe "k8s.io/kubernetes/pkg/probe/http"
	tcpprobe "k8s.io/kubernetes/pkg/probe/tcp"
)

type probeKind string

const (
	startupProbe   probeKind = "Startup"
	readinessProbe probeKind = "Readiness"
	livenessProbe  probeKind = "Liveness"
)

// prober runs one container instance's probes with the kubelet's probe
// implementations, against the loopback ports that stand in for the
// container's ports.
type prober struct {
	o         *options
	c         *container
	inst      *instance
	hostPorts map[int32]int32
	killGrace time.Duration
	// event reports a probe result worth an Event (failures, kills).
	event func(eventType, reason, msg string)
	// startedCh closes when the startup probe has succeeded (at once
	// without one); readiness and liveness wait for it.
	startedCh chan struct{}
}

// start runs the probers until ctx ends (the instance exited).
func (p *prober) start(ctx context.Context) {
	spec := &p.c.spec
	p.startedCh = make(chan struct{})
	p.c.mu.Lock()
	p.inst.started = spec.StartupProbe == nil
	p.inst.ready = spec.ReadinessProbe == nil
	p.c.mu.Unlock()
	if spec.StartupProbe == nil {
		close(p.startedCh)
	} else {
		go p.loop(ctx, startupProbe, spec.StartupProbe)
	}
	if spec.ReadinessProbe != nil {
		go p.loop(ctx, readinessProbe, spec.ReadinessProbe)
	}
	if spec.LivenessProbe != nil {
		go p.loop(ctx, livenessProbe, spec.LivenessProbe)
	}
}

func (p *prober) loop(ctx context.Context, kind probeKind, pr *v1.Probe) {
	if kind != startupProbe {
		select {
		case <-p.startedCh:
		case <-ctx.Done():
			return
		}
	}
	period := time.Duration(max(pr.PeriodSeconds, 1)) * time.Second
	// Only probes that gate readiness are sped up: a shorter liveness
	// period would shorten the time a slow container gets before it is
	// killed.
	if kind != livenessProbe && p.o.maxProbePeriod > 0 && period > p.o.maxProbePeriod {
		period = p.o.maxProbePeriod
	}
	timeout := time.Duration(max(pr.TimeoutSeconds, 1)) * time.Second
	successes, failures := 0, 0
	successThreshold, failureThreshold := int(max(pr.SuccessThreshold, 1)), int(max(pr.FailureThreshold, 1))
	// The first probe comes one period after the initial delay, as the
	// kubelet's probe worker, whose ticker starts before the container
	// does, first finds the container running at a tick.
	select {
	case <-time.After(time.Duration(pr.InitialDelaySeconds)*time.Second + period):
	case <-ctx.Done():
		return
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		result, output, err := p.once(pr, timeout)
		ok := err == nil && (result == probe.Success || result == probe.Warning)
		if ok {
			successes, failures = successes+1, 0
		} else {
			successes, failures = 0, failures+1
			msg := output
			if err != nil {
				msg = err.Error()
			}
			if ctx.Err() == nil {
				p.event(v1.EventTypeWarning, "Unhealthy", fmt.Sprintf("%s probe failed: %s", kind, msg))
			}
		}
		switch kind {
		case startupProbe:
			if ok && successes >= successThreshold {
				p.setStarted()
				return
			}
			if failures >= failureThreshold {
				p.event(v1.EventTypeNormal, "Killing", fmt.Sprintf("Container %s failed startup probe, will be restarted", p.c.spec.Name))
				go p.c.kill(p.killGrace, false)
				return
			}
		case readinessProbe:
			if ok && successes >= successThreshold {
				p.setReady(true)
			} else if failures >= failureThreshold {
				p.setReady(false)
			}
		case livenessProbe:
			if failures >= failureThreshold {
				p.event(v1.EventTypeNormal, "Killing", fmt.Sprintf("Container %s failed liveness probe, will be restarted", p.c.spec.Name))
				go p.c.kill(p.killGrace, false)
				return
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

func (p *prober) setStarted() {
	p.c.mu.Lock()
	p.inst.started = true
	p.c.mu.Unlock()
	close(p.startedCh)
	p.c.wake()
}

func (p *prober) setReady(ready bool) {
	p.c.mu.Lock()
	changed := p.inst.ready != ready
	p.inst.ready = ready
	p.c.mu.Unlock()
	if changed {
		p.c.wake()
	}
}

// hostPort maps a probe's port (a number or a port name) to the loopback
// port standing in for it; a port the container does not declare is used as
// is.
func (p *prober) hostPort(port intstr.IntOrString) (int, error) {
	var n int32
	if port.Type == intstr.String {
		found := false
		for _, cp := range p.c.spec.Ports {
			if cp.Name == port.StrVal {
				n, found = cp.ContainerPort, true
			}
		}
		if !found {
			return 0, fmt.Errorf("container %s has no port named %q", p.c.spec.Name, port.StrVal)
		}
	} else {
		n = port.IntVal
	}
	if hp, ok := p.hostPorts[n]; ok {
		return int(hp), nil
	}
	return int(n), nil
}

func (p *prober) once(pr *v1.Probe, timeout time.Duration) (probe.Result, string, error) {
	switch {
	case pr.HTTPGet != nil:
		port, err := p.hostPort(pr.HTTPGet.Port)
		if err != nil {
			return probe.Failure, "", err
		}
		action := *pr.HTTPGet
		action.Port = intstr.FromInt(port)
		req, err := httpprobe.NewRequestForHTTPGetAction(&action, &p.c.spec, loopback, "probe")
		if err != nil {
			return probe.Failure, "", err
		}
		return httpprobe.New(false).Probe(req, timeout)
	case pr.TCPSocket != nil:
		port, err := p.hostPort(pr.TCPSocket.Port)
		if err != nil {
			return probe.Failure, "", err
		}
		return tcpprobe.New().Probe(loopback, port, timeout)
	case pr.GRPC != nil:
		port, err := p.hostPort(intstr.FromInt32(pr.GRPC.Port))
		if err != nil {
			return probe.Failure, "", err
		}
		service := ""
		if pr.GRPC.Service != nil {
			service = *pr.GRPC.Service
		}
		return grpcprobe.New().Probe(loopback, service, port, timeout)
	}
	// Exec probes would need a process in the container's namespace; the
	// simulation treats them as passing.
	klog.V(2).InfoS("Exec probe not simulated, treated as success", "container", p.c.spec.Name)
	return probe.Success, "", nil
}
