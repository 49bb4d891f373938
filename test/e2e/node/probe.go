package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeReadiness runs c's readiness probe until ctx ends (the run exits), setting the
// container's ready flag as the thresholds say. Liveness and startup probes are not run.
func (w *podWorker) probeReadiness(ctx context.Context, c *container, run *launch) {
	p := c.spec.ReadinessProbe
	period := secondsOr(p.PeriodSeconds, 10)
	timeout := secondsOr(p.TimeoutSeconds, 1)
	success, failure := int(max(p.SuccessThreshold, 1)), int(max(p.FailureThreshold, 1))
	delay := time.Duration(p.InitialDelaySeconds) * time.Second
	okRun, failRun := 0, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = period
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := w.probeOnce(pctx, c, run)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			okRun, failRun = okRun+1, 0
		} else {
			okRun, failRun = 0, failRun+1
		}
		w.mu.Lock()
		was := c.ready
		switch {
		case okRun >= success:
			c.ready = true
		case failRun >= failure:
			c.ready = false
		}
		changed := was != c.ready
		w.mu.Unlock()
		if changed {
			w.sync()
		}
	}
}

func secondsOr(s int32, def int) time.Duration {
	if s <= 0 {
		return time.Duration(def) * time.Second
	}
	return time.Duration(s) * time.Second
}

// probeOnce runs one probe: a TCP connection or an HTTP GET from inside the cluster's
// namespace to the pod's address, or a command run as the container is.
func (w *podWorker) probeOnce(ctx context.Context, c *container, run *launch) error {
	w.mu.Lock()
	podIP := w.ip.String()
	w.mu.Unlock()
	h := c.spec.ReadinessProbe.ProbeHandler
	switch {
	case h.TCPSocket != nil:
		host := h.TCPSocket.Host
		if host == "" {
			host = podIP
		}
		port, err := probePort(c.spec, h.TCPSocket.Port)
		if err != nil {
			return err
		}
		conn, err := w.a.o.Netns.Dial(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	case h.HTTPGet != nil:
		return w.probeHTTP(ctx, c.spec, h.HTTPGet, podIP)
	case h.Exec != nil:
		spec, err := run.spec.encode()
		if err != nil {
			return err
		}
		args := append([]string{"netns", "exec", w.a.o.Netns.Name, w.a.podexec, "-spec", spec, "--"}, h.Exec.Command...)
		cmd := exec.CommandContext(ctx, w.a.ip, args...)
		cmd.Env = run.env
		return cmd.Run()
	}
	return fmt.Errorf("probe of container %s: no handler the e2e node agent supports", c.spec.Name)
}

func (w *podWorker) probeHTTP(ctx context.Context, spec corev1.Container, g *corev1.HTTPGetAction, podIP string) error {
	host := g.Host
	if host == "" {
		host = podIP
	}
	port, err := probePort(spec, g.Port)
	if err != nil {
		return err
	}
	scheme := "http"
	if g.Scheme == corev1.URISchemeHTTPS {
		scheme = "https"
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext:     w.a.o.Netns.Dial,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // as the kubelet's probes
	}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+g.Path, nil)
	if err != nil {
		return err
	}
	for _, h := range g.HTTPHeaders {
		req.Header.Add(h.Name, h.Value)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP probe: %s", resp.Status)
	}
	return nil
}

// probePort resolves a port number or a named container port.
func probePort(c corev1.Container, p intstr.IntOrString) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("probe: container %s has no port named %q", c.Name, p.StrVal)
}
