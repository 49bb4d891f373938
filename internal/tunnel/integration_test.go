package tunnel_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferrydvm/ferry/internal/pki"
	"github.com/ferrydvm/ferry/internal/proxy"
	"github.com/ferrydvm/ferry/internal/testenv"
	"github.com/ferrydvm/ferry/internal/tunnel"
)

// A password with every character that needs care in a proxy URL.
const hardPassword = "p@ss:w/rd% x"

// lab is one topology with a ferry tunnel server in Target forwarding to an echo server.
type lab struct {
	topo      *testenv.Topology
	certs     string
	server    string // ferry tunnel server, in Target
	serverCfg *pki.Bundle
}

func newLab(t *testing.T, serverPort int) *lab {
	t.Helper()
	testenv.Root(t)
	topo := testenv.NewTopology(t)
	certs := testenv.Certs(t, topo.TargetIP)
	l := &lab{topo: topo, certs: certs}
	addr := topo.TargetIP + ":0"
	if serverPort != 0 {
		addr = fmt.Sprintf("%s:%d", topo.TargetIP, serverPort)
	}
	ln, err := topo.Target.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	l.server = ln.Addr().String()
	b, err := pki.Load(certs, pki.Server)
	if err != nil {
		t.Fatal(err)
	}
	srv := &tunnel.Server{Forward: echo(t), TLS: tunnel.ServerConfig(b), Log: slog.New(slog.DiscardHandler), Grace: time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return l
}

// echo serves on 127.0.0.1, where the tunnel server forwards.
func echo(t *testing.T) string {
	return testenv.Serve(t, func(c net.Conn) { io.Copy(c, c) })
}

// dial opens the tunnel from the Source namespace through the given proxies.
func (l *lab) dial(t *testing.T, proxies ...string) (net.Conn, error) {
	t.Helper()
	ps, err := proxy.ParseAll(proxies)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pki.Load(l.certs, pki.Client)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return tunnel.Dial(ctx, &tunnel.Target{Addr: l.server, Proxies: ps, Bundle: b, Base: l.topo.Source.Dial})
}

func roundTrip(t *testing.T, c net.Conn) {
	t.Helper()
	defer c.Close()
	data := make([]byte, 1<<20)
	rand.Read(data)
	go c.Write(data)
	got := make([]byte, len(data))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("echo through the tunnel: %v", err)
	}
}

func squidURL(user, password, addr string) string {
	return "http://" + url.UserPassword(user, password).String() + "@" + addr
}

func TestThroughSquidWithBasicAuth(t *testing.T) {
	l := newLab(t, 0)
	sq := testenv.Squid(t, testenv.SquidOptions{Netns: l.topo.Proxy, Addr: l.topo.ProxySourceIP, Users: map[string]string{"mig": hardPassword}})
	c, err := l.dial(t, squidURL("mig", hardPassword, sq))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c)

	// Without the proxy the target is out of reach: the proxy is the only path.
	b, _ := pki.Load(l.certs, pki.Client)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if c, err := tunnel.Dial(ctx, &tunnel.Target{Addr: l.server, Bundle: b, Base: l.topo.Source.Dial}); err == nil {
		c.Close()
		t.Fatal("the target was reachable without the proxy")
	}
}

func TestProxyCredentialsRefused(t *testing.T) {
	l := newLab(t, 0)
	sq := testenv.Squid(t, testenv.SquidOptions{Netns: l.topo.Proxy, Addr: l.topo.ProxySourceIP, Users: map[string]string{"mig": hardPassword}})
	for name, u := range map[string]string{
		"wrong password":   squidURL("mig", "wrong", sq),
		"missing password": "http://" + sq,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := l.dial(t, u)
			var ae *proxy.AuthError
			if !errors.As(err, &ae) || !ae.OffersBasic() {
				t.Fatalf("error %v, want a 407 AuthError offering Basic", err)
			}
			if ae.SentCredentials != (name == "wrong password") {
				t.Errorf("SentCredentials = %v", ae.SentCredentials)
			}
			if strings.Contains(err.Error(), "wrong") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

func TestSquidAllowsConnectOnlyTo443(t *testing.T) {
	l := newLab(t, 0) // a port other than 443
	sq := testenv.Squid(t, testenv.SquidOptions{Netns: l.topo.Proxy, Addr: l.topo.ProxySourceIP, Users: map[string]string{"mig": "pw"}, OnlySSLPorts: true})
	_, err := l.dial(t, squidURL("mig", "pw", sq))
	var re *proxy.RefusedError
	if !errors.As(err, &re) || re.Status != 403 || !strings.Contains(err.Error(), "only to port 443") {
		t.Fatalf("error %v, want a 403 that names the port rule", err)
	}

	l443 := newLab(t, 443) // the same rule lets port 443 through
	sq443 := testenv.Squid(t, testenv.SquidOptions{Netns: l443.topo.Proxy, Addr: l443.topo.ProxySourceIP, Users: map[string]string{"mig": "pw"}, OnlySSLPorts: true})
	c, err := l443.dial(t, squidURL("mig", "pw", sq443))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c)
}

func TestThroughTinyproxy(t *testing.T) {
	l := newLab(t, 0)
	tp := testenv.Tinyproxy(t, testenv.TinyproxyOptions{Netns: l.topo.Proxy, Addr: l.topo.ProxySourceIP, User: "mig", Password: "tiny_pw"})
	c, err := l.dial(t, "http://mig:tiny_pw@"+tp)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c)
}

// TestChainTinyproxyThenSquid: squid listens on the Proxy namespace's loopback, which the
// source cannot reach; only tinyproxy can CONNECT to it.
func TestChainTinyproxyThenSquid(t *testing.T) {
	l := newLab(t, 0)
	tp := testenv.Tinyproxy(t, testenv.TinyproxyOptions{Netns: l.topo.Proxy, Addr: l.topo.ProxySourceIP, User: "first", Password: "one"})
	sq := testenv.Squid(t, testenv.SquidOptions{Netns: l.topo.Proxy, Addr: "127.0.0.1", Users: map[string]string{"second": hardPassword}})
	c, err := l.dial(t, "http://first:one@"+tp, squidURL("second", hardPassword, sq))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c)

	// The second hop's credentials are checked by the second proxy, and the error says so.
	_, err = l.dial(t, "http://first:one@"+tp, squidURL("second", "bad", sq))
	var he *proxy.HopError
	if !errors.As(err, &he) || he.Hop != 1 {
		t.Fatalf("error %v, want a failure at hop 2", err)
	}
}

func TestMitmproxyIsNamedAsInterception(t *testing.T) {
	l := newLab(t, 0)
	mitm, _ := testenv.Mitmproxy(t, l.topo.Proxy, l.topo.ProxySourceIP)
	_, err := l.dial(t, "http://"+mitm)
	var ie *tunnel.InterceptedError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T), want *tunnel.InterceptedError", err, err)
	}
	if !strings.Contains(ie.Issuer, "mitmproxy") || !strings.Contains(err.Error(), "intercepted") || !strings.Contains(err.Error(), mitm) {
		t.Fatalf("the error does not name mitmproxy and the proxy: %v", err)
	}
	t.Log(err)
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}
