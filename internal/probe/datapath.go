package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/ferrydvm/ferry/internal/proxy"
	"github.com/ferrydvm/ferry/internal/tunnel"
)

// Names of the data-path checks, in order.
const (
	ProxyTCP        = "proxy-tcp"
	ProxyAuth       = "proxy-auth"
	ProxyConnect    = "proxy-connect"
	TLSEndToEnd     = "tls-end-to-end"
	ServerHandshake = "server-handshake"
	Measure         = "measure"
)

// Greeter is what the far end is asked once TLS is up: it returns what it found (a ferry
// receiver and its version, an rsync daemon behind a tunnel...) or why it refused us.
type Greeter func(ctx context.Context, conn net.Conn) (string, error)

// Sampler sends a throughput sample over a fresh connection and returns the round-trip time
// and the rate in bytes per second.
type Sampler func(ctx context.Context, conn net.Conn) (time.Duration, float64, error)

// DataPath probes the path to t hop by hop. greet identifies the server; sample, when not
// nil, adds a measurement of the path over a second connection (the measure check, skipped
// like the others when an earlier check fails).
func DataPath(ctx context.Context, t *tunnel.Target, greet Greeter, sample Sampler) *Report {
	plan := []string{ProxyTCP, ProxyAuth, ProxyConnect, TLSEndToEnd, ServerHandshake}
	if sample != nil {
		plan = append(plan, Measure)
	}
	r := newReport(plan...)
	// The path and the TLS handshake get the time tunnel.Dial gives them, so that a proxy
	// or receiver that never answers is named as Dial would meet it.
	dctx, cancel := context.WithTimeout(ctx, t.DialLimit())
	defer cancel()
	timedOut := func() {
		if dctx.Err() != nil && ctx.Err() == nil {
			r.FirstFailure().Detail += fmt.Sprintf(" (no answer within %v)", t.DialLimit())
		}
	}
	start := time.Now()
	conn, ok := dialHops(dctx, r, t)
	if !ok {
		timedOut()
		return r
	}
	pathTime := time.Since(start)
	tlsStart := time.Now()
	tc, err := tunnel.Handshake(dctx, conn, t)
	if err != nil {
		r.fail(TLSEndToEnd, err.Error(), tlsHint(err), tlsTransient(err))
		timedOut()
		return r
	}
	cancel() // the connection is not bound to dctx after the handshake
	defer tc.Close()
	tlsTime := time.Since(tlsStart)
	st := tc.ConnectionState()
	r.pass(TLSEndToEnd, fmt.Sprintf("TLS 1.3 with %s, server certificate signed by the migration CA (%s)", tls.CipherSuiteName(st.CipherSuite), st.PeerCertificates[0].Subject.CommonName))
	greetStart := time.Now()
	what, err := greet(ctx, tc)
	if err != nil {
		hint, transient := handshakeHint(err)
		r.fail(ServerHandshake, err.Error(), hint, transient)
		return r
	}
	r.pass(ServerHandshake, what)
	if sample != nil {
		timings := fmt.Sprintf("path %v, TLS handshake %v, first answer %v", pathTime.Round(time.Microsecond), tlsTime.Round(time.Microsecond), time.Since(greetStart).Round(time.Microsecond))
		measure(ctx, r, t, sample, timings)
	}
	return r
}

// measure opens a second path for a throughput sample.
func measure(ctx context.Context, r *Report, t *tunnel.Target, sample Sampler, timings string) {
	conn, err := tunnel.Dial(ctx, t)
	if err != nil {
		r.fail(Measure, timings+"; a second connection failed: "+err.Error(), "", true)
		return
	}
	defer conn.Close()
	rtt, rate, err := sample(ctx, conn)
	if err != nil {
		r.fail(Measure, timings+"; "+err.Error(), "throughput can be sampled only against a ferry receiver", false)
		return
	}
	r.pass(Measure, fmt.Sprintf("%s; round trip %v; throughput %.1f MB/s", timings, rtt.Round(time.Microsecond), rate/1e6))
}

// dialHops opens the path one hop at a time, recording proxy-tcp, proxy-auth and
// proxy-connect.
func dialHops(ctx context.Context, r *Report, t *tunnel.Target) (net.Conn, bool) {
	base := t.Base
	if base == nil {
		base = (&net.Dialer{KeepAlive: tunnel.KeepAlive}).DialContext // ctx bounds it
	}
	if len(t.Proxies) == 0 {
		conn, err := base(ctx, "tcp", t.Addr)
		if err != nil {
			r.fail(ProxyTCP, fmt.Sprintf("cannot reach the receiver at %s: %v", t.Addr, err), tcpHint(err), dialTransient(err))
			return nil, false
		}
		r.pass(ProxyTCP, "no proxy: connected to "+t.Addr+" directly")
		r.skip(ProxyAuth, "no proxy")
		r.skip(ProxyConnect, "no proxy")
		return conn, true
	}
	first := t.Proxies[0]
	conn, err := base(ctx, "tcp", first.Addr)
	if err != nil {
		r.fail(ProxyTCP, fmt.Sprintf("cannot reach %s: %v", hopName(t.Proxies, 0), err), tcpHint(err), dialTransient(err))
		return nil, false
	}
	d := &proxy.Dialer{Base: func(context.Context, string, string) (net.Conn, error) { return conn, nil }, Proxies: t.Proxies, ProxyTLS: tunnel.ProxyConfig}
	tun, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		hopFailure(r, t, err)
		return nil, false
	}
	r.pass(ProxyTCP, reachedDetail(t.Proxies))
	r.pass(ProxyAuth, authDetail(t.Proxies))
	r.pass(ProxyConnect, fmt.Sprintf("CONNECT %s accepted through %d prox%s", t.Addr, len(t.Proxies), plural(len(t.Proxies), "y", "ies")))
	return tun, true
}

// hopFailure records what a failed CONNECT through the chain says about it.
func hopFailure(r *Report, t *tunnel.Target, err error) {
	var (
		auth    *proxy.AuthError
		refused *proxy.RefusedError
		hop     *proxy.HopError
	)
	if !errors.As(err, &hop) { // proxy.Dialer always names the hop; be safe anyway
		r.fail(ProxyConnect, err.Error(), "", false)
		return
	}
	if errors.As(err, &refused) && gatewayError(refused.Status) && hop.Hop+1 < len(t.Proxies) {
		// A gateway error to the next proxy: that hop is unreachable, not a refused rule.
		r.fail(ProxyTCP, nextHopDetail(t.Proxies, hop.Hop, refused), nextHopHint(t.Proxies, hop.Hop), true)
		return
	}
	reached := t.Proxies[:hop.Hop+1]
	r.pass(ProxyTCP, reachedDetail(reached))
	switch {
	case errors.As(err, &auth):
		r.fail(ProxyAuth, err.Error(), authHint(auth), false)
	case errors.As(err, &refused):
		r.pass(ProxyAuth, authDetail(reached))
		r.fail(ProxyConnect, err.Error(), connectHint(refused, hop, t), gatewayError(refused.Status))
	case hop.Op == "tls":
		r.fail(ProxyAuth, err.Error(), "TLS to an https:// proxy failed: check its certificate, or use http:// if it speaks plain HTTP", tlsTransient(err))
	case isTimeout(err):
		r.skip(ProxyAuth, "no answer to judge")
		r.fail(ProxyConnect, err.Error(), "the proxy took the connection but did not answer CONNECT in time: it is overloaded, or it is not an HTTP proxy", true)
	default:
		r.skip(ProxyAuth, "no answer to judge")
		r.fail(ProxyConnect, err.Error(), "the proxy did not answer CONNECT like an HTTP proxy: check host and port, and that it is a forward proxy", closedEarly(err))
	}
}

// gatewayError: the proxy could not open the connection it was asked for (squid answers
// 503, tinyproxy 500, others 502 or 504); a later try may succeed.
func gatewayError(status int) bool {
	return status == 500 || status == 502 || status == 503 || status == 504
}

// hopName names the i-th proxy for a person: "proxy URL" alone, "hop N (proxy URL)" in a
// chain. URLs are masked.
func hopName(ps []*proxy.Proxy, i int) string {
	if len(ps) == 1 {
		return "proxy " + ps[0].String()
	}
	return fmt.Sprintf("hop %d (proxy %s)", i+1, ps[i])
}

func reachedDetail(ps []*proxy.Proxy) string {
	if len(ps) == 1 {
		return "reached " + ps[0].String()
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.String()
	}
	return fmt.Sprintf("reached %d hops, each through the one before: %s", len(ps), strings.Join(names, " -> "))
}

// nextHopDetail: hop i answered a gateway error to CONNECT to hop i+1.
func nextHopDetail(ps []*proxy.Proxy, i int, e *proxy.RefusedError) string {
	by := ""
	if e.Server != "" {
		by = " (" + e.Server + ")"
	}
	return fmt.Sprintf("%s unreachable through %s: CONNECT %s answered %d %s%s", hopName(ps, i+1), hopName(ps, i), e.Target, e.Status, e.Reason, by)
}

func nextHopHint(ps []*proxy.Proxy, i int) string {
	return fmt.Sprintf("hop %d cannot open a connection to hop %d at %s: check that the proxy there runs and listens on that port, and that its name resolves and its port is open from hop %d's network", i+1, i+2, ps[i+1].Addr, i+1)
}

func authHint(auth *proxy.AuthError) string {
	switch {
	case !auth.OffersBasic():
		return "the proxy asks for " + strings.Join(auth.Schemes, ", ") + "; ferry, like MTC, supports only Basic: ask for a Basic-auth account, or an exemption for this host"
	case auth.SentCredentials:
		return "the proxy refused these credentials: check the user and password, and that the account may use CONNECT"
	}
	return "give the proxy's user and password in the URL: http://user:password@host:port (percent-encode special characters)"
}

func authDetail(ps []*proxy.Proxy) string {
	var with []string
	for _, p := range ps {
		if p.Username != "" {
			with = append(with, p.String())
		}
	}
	if len(with) == 0 {
		return "no proxy asked for credentials"
	}
	return "credentials accepted by " + strings.Join(with, ", ")
}

func connectHint(e *proxy.RefusedError, hop *proxy.HopError, t *tunnel.Target) string {
	_, port, _ := net.SplitHostPort(e.Target)
	toNextHop := hop.Hop+1 < len(t.Proxies)
	switch {
	case e.Status == 403 && toNextHop:
		return fmt.Sprintf("%s forbids CONNECT to the next proxy %s: ask for it to be allowed (squid's stock configuration allows CONNECT only to port 443, http_access deny CONNECT !SSL_ports)", hopName(t.Proxies, hop.Hop), e.Target)
	case e.Status == 403 && port != "443":
		return fmt.Sprintf("squid's stock configuration allows CONNECT only to port 443 (http_access deny CONNECT !SSL_ports): expose the receiver on 443 (a Route or Ingress with TLS passthrough) or have port %s added to SSL_ports", port)
	case e.Status == 403:
		return "the proxy's rules forbid this destination: ask for " + e.Target + " to be allowed"
	case gatewayError(e.Status):
		return "the proxy could not reach " + e.Target + ": check the receiver's address and that it is reachable from the proxy (DNS, firewall, the Route's host)"
	}
	return "the proxy refused the tunnel"
}

func tcpHint(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return "the name does not resolve here: check the spelling and this network's DNS"
	case isTimeout(err):
		return "no answer: a firewall may drop the traffic, or the address is wrong"
	case errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(err.Error(), "refused"):
		return "nothing listens at that address and port"
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) || strings.Contains(err.Error(), "unreachable"):
		return "no route to that address from here: a proxy may be required"
	}
	return ""
}

// dialTransient: a connection that was refused, timed out or found no route may succeed
// later (the receiver or proxy is starting, a network blip); a name that does not exist,
// or a bad address, will not.
func dialTransient(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTimeout || dnsErr.IsTemporary
	}
	return isTimeout(err) || closedEarly(err) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// closedEarly: the peer closed or reset the connection before answering.
func closedEarly(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func tlsHint(err error) string {
	var ie *tunnel.InterceptedError
	if errors.As(err, &ie) {
		if len(ie.Proxies) > 0 {
			return "use a proxy that relays CONNECT tunnels unchanged, or have the receiver's host exempted from TLS inspection (MTC's stunnel_tcp_proxy must not be an intercepting proxy)"
		}
		return "regenerate and distribute this migration's certificates, or point at the right receiver"
	}
	if tlsTransient(err) {
		return "the far end closed the connection or did not answer during TLS: a Route or load balancer whose receiver is not ready yet, or not a ferry receiver or tunnel server"
	}
	return "the far end did not complete TLS 1.3: is it a ferry receiver or tunnel server?"
}

// tlsTransient: a handshake cut short (closed, reset, timed out) may pass later, as when a
// router accepts before its backend is ready; a certificate or protocol refusal (an alert
// from the far end) will not.
func tlsTransient(err error) bool {
	var (
		ie  *tunnel.InterceptedError
		cve *tls.CertificateVerificationError
	)
	if errors.As(err, &ie) || errors.As(err, &cve) || remoteAlert(err) {
		return false
	}
	return isTimeout(err) || closedEarly(err)
}

// remoteAlert: the far end ended TLS with an alert. crypto/tls reports a received alert
// as a *net.OpError with Op "remote error" (tls.AlertError is only for QUIC).
func remoteAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

// handshakeHint explains a failed greeting. The Greeter's errors are plain (engine.Greet
// words them for people), so this reads their wording, and the TLS alert they may wrap;
// the TestProbeServerHandshake* and TestProbeReceiverRefusesClientCertificate tests pin it.
func handshakeHint(err error) (string, bool) {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "client certificate"):
		return "the receiver trusts another CA: --certs is the wrong directory, or holds another migration's certificates; use the files of one `ferry certs generate` on both sides", false
	case remoteAlert(err):
		return "the server ended TLS with an alert after the handshake: check that it is a ferry receiver or tunnel server using this migration's certificates", false
	case isTimeout(err) || closedEarly(err):
		return "the server closed the connection or did not answer after TLS: a tunnel server whose forward address is down, or a receiver that is starting or stopping", true
	case strings.Contains(msg, "speaking protocol") || strings.Contains(msg, "speaks protocol"):
		return "the two sides run ferry releases with different transfer protocols: run the same ferry release on both (the receiver's image and this binary)", false
	case strings.Contains(msg, "unknown protocol"):
		return "something other than a ferry receiver answers TLS there with this migration's certificate: check the port", false
	}
	return "check that the server is a ferry receiver or tunnel server using this migration's certificates and the same ferry version", false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
