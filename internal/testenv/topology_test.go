package testenv

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestTopologyReachesTargetOnlyThroughSquid(t *testing.T) {
	t.Parallel()
	tp := NewTopology(t)
	target := echoServer(t, tp.Target, tp.TargetIP)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if c, err := tp.Source.Dial(ctx, "tcp", target); err == nil {
		c.Close()
		t.Fatalf("Source dialed %s directly; want no route", target)
	} else {
		t.Logf("direct dial from Source, as wanted: %v", err)
	}

	const user, pass = "ferry", "p@ss w:rd/é" // squid takes any characters
	proxy := Squid(t, SquidOptions{
		Netns: tp.Proxy,
		Addr:  tp.ProxySourceIP,
		Users: map[string]string{user: pass, "other": "x"},
	})
	if code, _ := connect(t, tp.Source, proxy, target, "", ""); code != http.StatusProxyAuthRequired {
		t.Errorf("CONNECT without credentials: %d, want 407", code)
	}
	if code, _ := connect(t, tp.Source, proxy, target, user, "wrong"); code != http.StatusProxyAuthRequired {
		t.Errorf("CONNECT with a wrong password: %d, want 407", code)
	}
	code, c := connect(t, tp.Source, proxy, target, user, pass)
	if code != http.StatusOK {
		t.Fatalf("CONNECT %s via squid %s: %d, want 200", target, proxy, code)
	}
	echoes(t, c)
}

func TestSquidOnlySSLPortsRefusesOtherPorts(t *testing.T) {
	t.Parallel()
	target := echoServer(t, nil, "127.0.0.1")
	proxy := Squid(t, SquidOptions{OnlySSLPorts: true})
	if code, _ := connect(t, nil, proxy, target, "", ""); code != http.StatusForbidden {
		t.Fatalf("CONNECT %s with OnlySSLPorts: %d, want 403", target, code)
	}
}

func TestAddHostResolvesInsideNamespace(t *testing.T) {
	t.Parallel()
	ns := NewNetns(t, "hosts")
	ns.AddHost(t, "target.test", "10.250.2.2")
	ns.AddHost(t, "proxy.test", "10.250.1.2")
	out, err := ns.Command(context.Background(), "getent", "hosts", "target.test").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "10.250.2.2") {
		t.Fatalf("getent hosts target.test in %s: %q, %v", ns.Name, out, err)
	}
}

func TestListenStaysInNamespace(t *testing.T) {
	t.Parallel()
	ns := NewNetns(t, "listen")
	if _, err := ns.Dial(context.Background(), "tcp", "localhost:1"); err == nil ||
		!strings.Contains(err.Error(), "IP literal") {
		t.Fatalf("Dial to a host name: %v, want an error about IP literals", err)
	}
	l, err := ns.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := ns.Dial(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("dial %s inside %s: %v", l.Addr(), ns.Name, err)
	}
	c.Close()
	if _, err := l.Accept(); err != nil {
		t.Fatal(err)
	}
	// The same address in the test's namespace is another loopback: nothing of ours there.
	if c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		c.Close()
		l.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := l.Accept(); err == nil {
			t.Fatalf("the test's namespace reached a listener in %s", ns.Name)
		}
	}
}

func TestTopologyAddsNothingToTestNamespace(t *testing.T) {
	t.Parallel()
	tp := NewTopology(t)
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if strings.HasPrefix(i.Name, "to-") {
			t.Errorf("interface %s in the test's namespace", i.Name)
		}
	}
	if _, err := tp.Proxy.Dial(context.Background(), "tcp", net.JoinHostPort(tp.TargetIP, "1")); err == nil ||
		!strings.Contains(err.Error(), "refused") {
		t.Errorf("Proxy to Target port 1: %v, want connection refused (the link works)", err)
	}
}
