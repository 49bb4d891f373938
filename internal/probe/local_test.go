package probe_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferrydvm/ferry/internal/engine"
	"github.com/ferrydvm/ferry/internal/pki"
	"github.com/ferrydvm/ferry/internal/probe"
	"github.com/ferrydvm/ferry/internal/proxy"
	"github.com/ferrydvm/ferry/internal/testenv"
	"github.com/ferrydvm/ferry/internal/tunnel"
	"github.com/ferrydvm/ferry/internal/wire"
)

// These tests need neither root nor outside programs: the peers are ferry's own receiver
// and tunnel server, or a few lines standing in for what no Debian package offers.

// localCerts writes a migration's certificates for 127.0.0.1 and returns their folder.
func localCerts(t *testing.T) string { return testenv.Certs(t, "127.0.0.1") }

// probeLocal probes addr through proxies with the real greeting; measure adds a sampler.
func probeLocal(t *testing.T, certs, addr string, measure bool, proxies ...string) *probe.Report {
	t.Helper()
	return probeTarget(t, localTarget(t, certs, addr, proxies...), measure)
}

// localTarget is the client side of certs, dialing addr through proxies.
func localTarget(t *testing.T, certs, addr string, proxies ...string) *tunnel.Target {
	t.Helper()
	ps, err := proxy.ParseAll(proxies)
	if err != nil {
		t.Fatal(err)
	}
	return &tunnel.Target{Addr: addr, Proxies: ps, Bundle: testenv.Bundle(t, certs, pki.Client)}
}

// probeTarget probes target with the real greeting; measure adds a sampler. The probe
// must end by its own bounds: running into the test's safety deadline fails the test.
func probeTarget(t *testing.T, target *tunnel.Target, measure bool) *probe.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	greet := func(ctx context.Context, c net.Conn) (string, error) { return engine.Greet(ctx, c, "test") }
	var sample probe.Sampler
	if measure {
		sample = func(ctx context.Context, c net.Conn) (time.Duration, float64, error) {
			return engine.Measure(ctx, c, "test", 1<<20)
		}
	}
	r := probe.DataPath(ctx, target, greet, sample)
	if ctx.Err() != nil {
		t.Fatalf("the probe ran until the test's safety deadline: %v", r.Err())
	}
	return r
}

// transient reports what the first failure says about retrying.
func transient(t *testing.T, r *probe.Report) bool {
	t.Helper()
	var pe *probe.Error
	if !errors.As(r.Err(), &pe) {
		t.Fatalf("no failure: %v", r.Err())
	}
	return pe.Transient()
}

// A proxy that offers only NTLM and Negotiate: the hint says only Basic is supported,
// with or without credentials in the URL.
func TestProbeProxyAsksForNTLM(t *testing.T) {
	certs := localCerts(t)
	ntlm := testenv.Serve(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: NTLM\r\nProxy-Authenticate: Negotiate\r\nContent-Length: 0\r\n\r\n")
	})
	for _, u := range []string{"http://" + ntlm, "http://DOMAIN%5Cuser:s3cret@" + ntlm} {
		r := probeLocal(t, certs, "127.0.0.1:9", false, u)
		expect(t, r, "proxy-tcp=pass proxy-auth=fail proxy-connect=skip tls-end-to-end=skip server-handshake=skip",
			"407", "asks for NTLM, Negotiate", "supports only Basic", "exemption")
		if transient(t, r) {
			t.Error("a 407 is not transient")
		}
		if out := fmt.Sprint(r.Checks); strings.Contains(out, "s3cret") {
			t.Errorf("the report shows the password: %s", out)
		}
	}
}

// A proxy host name that does not resolve is a proxy-tcp failure that names it. With
// --measure, the measure row is there, skipped like the others.
func TestProbeProxyNameDoesNotResolve(t *testing.T) {
	r := probeLocal(t, localCerts(t), "127.0.0.1:9", true, "http://u:s3cret@proxy.ferry.invalid:3128")
	expect(t, r, "proxy-tcp=fail proxy-auth=skip proxy-connect=skip tls-end-to-end=skip server-handshake=skip measure=skip",
		"proxy http://u:xxxxx@proxy.ferry.invalid:3128", "does not resolve")
	if strings.Contains(r.Checks[0].Detail, "s3cret") {
		t.Errorf("the detail shows the password: %s", r.Checks[0].Detail)
	}
}

// Nothing listens: proxy-tcp, and retrying may help (the receiver may be starting). A
// "proxy" that closes without answering CONNECT is named as not answering like one.
func TestProbeNothingListensLocally(t *testing.T) {
	certs := localCerts(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	r := probeLocal(t, certs, dead, true)
	expect(t, r, "proxy-tcp=fail proxy-auth=skip proxy-connect=skip tls-end-to-end=skip server-handshake=skip measure=skip",
		"cannot reach the receiver at "+dead, "nothing listens")
	if !transient(t, r) {
		t.Error("a refused connection may heal: it should be transient")
	}

	mute := testenv.Serve(t, func(net.Conn) {})
	r = probeLocal(t, certs, dead, true, "http://"+mute)
	expect(t, r, "proxy-tcp=pass proxy-auth=skip proxy-connect=fail tls-end-to-end=skip server-handshake=skip measure=skip",
		"CONNECT "+dead+" via proxy http://"+mute, "did not answer CONNECT like an HTTP proxy")
}

// A receiver of another ferry release (protocol 2) answers the greeting with its own
// protocol: server-handshake fails and says to run the same release. The receiver is
// ferry's framing with a welcome of protocol 2 (frame type 2: uvarint protocol, string
// version), since this ferry's receiver always speaks this ferry's protocol.
func TestProbeServerHandshakeOtherProtocol(t *testing.T) {
	certs := localCerts(t)
	srv := testenv.Bundle(t, certs, pki.Server)
	addr := testenv.Serve(t, func(c net.Conn) {
		tc, err := tunnel.AcceptTLS(context.Background(), c, tunnel.ServerConfig(srv))
		if err != nil {
			return
		}
		defer tc.Close()
		if _, _, err := wire.NewReader(tc, 0).ReadFrame(); err != nil {
			return
		}
		var e wire.Enc
		e.Uvarint(engine.ProtocolVersion + 1)
		e.String("99.0.0")
		w := wire.NewWriter(tc, 0)
		w.WriteFrame(2, e.B)
		w.Flush()
	})
	r := probeLocal(t, certs, addr, true)
	expect(t, r, "proxy-tcp=pass proxy-auth=skip proxy-connect=skip tls-end-to-end=pass server-handshake=fail measure=skip",
		"ferry receiver 99.0.0", fmt.Sprintf("protocol %d", engine.ProtocolVersion+1), "same ferry release")
	if transient(t, r) {
		t.Error("another protocol version does not heal by retrying")
	}
}

// The real ferry receiver passes every check, measure included; a real tunnel server
// whose forward address is down ends the connection after TLS, which may heal.
func TestProbeServerHandshakeFerryPeers(t *testing.T) {
	certs := localCerts(t)
	srvBundle := testenv.Bundle(t, certs, pki.Server)
	rc := &engine.Receiver{Volumes: map[string]string{"v": t.TempDir()}, Version: "test"}
	receiver := testenv.Serve(t, func(c net.Conn) {
		if tc, err := tunnel.AcceptTLS(context.Background(), c, tunnel.ServerConfig(srvBundle)); err == nil {
			rc.Handle(context.Background(), tc)
		}
	})
	expect(t, probeLocal(t, certs, receiver, true), "proxy-tcp=pass proxy-auth=skip proxy-connect=skip tls-end-to-end=pass server-handshake=pass measure=pass")

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down := ln.Addr().String()
	ln.Close()
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	s := &tunnel.Server{Forward: down, TLS: tunnel.ServerConfig(srvBundle), Log: slog.New(slog.DiscardHandler), Grace: time.Second}
	go func() { done <- s.Serve(ctx, tln) }()
	t.Cleanup(func() { cancel(); <-done })
	r := probeLocal(t, certs, tln.Addr().String(), false)
	expect(t, r, "proxy-tcp=pass proxy-auth=skip proxy-connect=skip tls-end-to-end=pass server-handshake=fail", "forward address is down")
	if !transient(t, r) {
		t.Error("a tunnel server whose backend is down may heal: it should be transient")
	}
}

// A real ferry receiver that trusts another CA (the receiver of another migration, or
// --certs pointing at the wrong folder): TLS 1.3 completes on our side and the receiver's
// refusal of our client certificate comes as an alert on the first read. server-handshake
// fails, says so and how to fix it, and waiting does not help.
func TestProbeReceiverRefusesClientCertificate(t *testing.T) {
	certs, other := localCerts(t), localCerts(t)
	cfg := tunnel.ServerConfig(testenv.Bundle(t, certs, pki.Server))
	cfg.ClientCAs = testenv.Bundle(t, other, pki.Server).Roots
	rc := &engine.Receiver{Volumes: map[string]string{"v": t.TempDir()}, Version: "test"}
	addr := testenv.Serve(t, func(c net.Conn) {
		if tc, err := tunnel.AcceptTLS(context.Background(), c, cfg); err == nil {
			rc.Handle(context.Background(), tc)
		}
	})
	r := probeLocal(t, certs, addr, true)
	expect(t, r, "proxy-tcp=pass proxy-auth=skip proxy-connect=skip tls-end-to-end=pass server-handshake=fail measure=skip",
		"the receiver refused this migration's client certificate", "tls: unknown certificate authority", "trusts another CA", "wrong directory", "ferry certs generate")
	if transient(t, r) {
		t.Error("a refused client certificate does not heal by retrying")
	}
}

// The dial timeout bounds each step of the path: a proxy that never answers CONNECT is a
// proxy-connect failure, a far end that never answers TLS a tls-end-to-end one; both may
// heal. The probe ends by the target's timeout, not the test's safety deadline.
func TestProbeNoAnswer(t *testing.T) {
	certs := localCerts(t)
	tests := []struct {
		name     string
		addr     string
		proxies  []string
		statuses string
		want     []string
	}{
		{"proxy never answers CONNECT", "127.0.0.1:9", []string{"http://" + testenv.Silent(t)},
			"proxy-tcp=pass proxy-auth=skip proxy-connect=fail tls-end-to-end=skip server-handshake=skip measure=skip",
			[]string{"CONNECT 127.0.0.1:9 via", "no answer within 300ms", "did not answer CONNECT in time"}},
		{"receiver never answers TLS", testenv.Silent(t), nil,
			"proxy-tcp=pass proxy-auth=skip proxy-connect=skip tls-end-to-end=fail server-handshake=skip measure=skip",
			[]string{"TLS handshake with", "no answer within 300ms", "did not answer during TLS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := localTarget(t, certs, tt.addr, tt.proxies...)
			target.DialTimeout = 300 * time.Millisecond
			r := probeTarget(t, target, true)
			expect(t, r, tt.statuses, tt.want...)
			if !transient(t, r) {
				t.Error("no answer in time may heal: it should be transient")
			}
		})
	}
}
