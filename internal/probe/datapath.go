package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
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
// nil, adds a measurement of the path over a second connection.
func DataPath(ctx context.Context, t *tunnel.Target, greet Greeter, sample Sampler) *Report {
	r := &Report{}
	start := time.Now()
	conn, ok := dialHops(ctx, r, t)
	if !ok {
		return r
	}
	pathTime := time.Since(start)
	tlsStart := time.Now()
	tc, err := tunnel.Handshake(ctx, conn, t)
	if err != nil {
		r.add(TLSEndToEnd, Fail, err.Error(), tlsHint(err))
		r.skipRest(ServerHandshake)
		return r
	}
	defer tc.Close()
	tlsTime := time.Since(tlsStart)
	st := tc.ConnectionState()
	r.add(TLSEndToEnd, Pass, fmt.Sprintf("TLS 1.3 with %s, server certificate signed by the migration CA (%s)", tls.CipherSuiteName(st.CipherSuite), st.PeerCertificates[0].Subject.CommonName), "")
	greetStart := time.Now()
	what, err := greet(ctx, tc)
	if err != nil {
		r.add(ServerHandshake, Fail, err.Error(), "check that the server is a ferry receiver or tunnel server using this migration's certificates and the same ferry version")
		return r
	}
	r.add(ServerHandshake, Pass, what, "")
	if sample != nil {
		timings := fmt.Sprintf("path %v, TLS handshake %v, first answer %v", pathTime.Round(time.Microsecond), tlsTime.Round(time.Microsecond), time.Since(greetStart).Round(time.Microsecond))
		r.add(measure(ctx, t, sample, timings))
	}
	return r
}

// measure opens a second path for a throughput sample.
func measure(ctx context.Context, t *tunnel.Target, sample Sampler, timings string) (string, string, string, string) {
	conn, err := tunnel.Dial(ctx, t)
	if err != nil {
		return Measure, Fail, timings + "; a second connection failed: " + err.Error(), ""
	}
	defer conn.Close()
	rtt, rate, err := sample(ctx, conn)
	if err != nil {
		return Measure, Fail, timings + "; " + err.Error(), "throughput can be sampled only against a ferry receiver"
	}
	return Measure, Pass, fmt.Sprintf("%s; round trip %v; throughput %.1f MB/s", timings, rtt.Round(time.Microsecond), rate/1e6), ""
}

// dialHops opens the path one hop at a time, recording proxy-tcp, proxy-auth and
// proxy-connect.
func dialHops(ctx context.Context, r *Report, t *tunnel.Target) (net.Conn, bool) {
	base := t.Base
	if base == nil {
		base = (&net.Dialer{KeepAlive: tunnel.KeepAlive, Timeout: 15 * time.Second}).DialContext
	}
	first := t.Addr
	if len(t.Proxies) > 0 {
		first = t.Proxies[0].Addr
	}
	conn, err := base(ctx, "tcp", first)
	if err != nil {
		what := "the receiver"
		if len(t.Proxies) > 0 {
			what = "proxy " + t.Proxies[0].String()
		}
		r.add(ProxyTCP, Fail, fmt.Sprintf("cannot reach %s at %s: %v", what, first, err), tcpHint(err))
		r.skipRest(ProxyAuth, ProxyConnect, TLSEndToEnd, ServerHandshake)
		return nil, false
	}
	if len(t.Proxies) == 0 {
		r.add(ProxyTCP, Pass, "no proxy: connected to "+t.Addr+" directly", "")
		r.add(ProxyAuth, Skip, "no proxy", "")
		r.add(ProxyConnect, Skip, "no proxy", "")
		return conn, true
	}
	r.add(ProxyTCP, Pass, "reached "+t.Proxies[0].String(), "")
	d := &proxy.Dialer{Base: func(context.Context, string, string) (net.Conn, error) { return conn, nil }, Proxies: t.Proxies, ProxyTLS: tunnel.ProxyConfig}
	tun, err := d.DialContext(ctx, "tcp", t.Addr)
	if err == nil {
		r.add(ProxyAuth, Pass, authDetail(t.Proxies), "")
		r.add(ProxyConnect, Pass, fmt.Sprintf("CONNECT %s accepted through %d prox%s", t.Addr, len(t.Proxies), plural(len(t.Proxies), "y", "ies")), "")
		return tun, true
	}
	hopFailure(r, t, err)
	return nil, false
}

func hopFailure(r *Report, t *tunnel.Target, err error) {
	var (
		auth    *proxy.AuthError
		refused *proxy.RefusedError
		hop     *proxy.HopError
	)
	errors.As(err, &hop)
	switch {
	case errors.As(err, &auth):
		hint := "give the proxy's user and password in the URL: http://user:password@host:port (percent-encode special characters)"
		if auth.SentCredentials {
			hint = "the proxy refused these credentials: check the user and password, and that the account may use CONNECT"
		}
		if !auth.OffersBasic() {
			hint = "the proxy asks for " + strings.Join(auth.Schemes, ", ") + "; ferry, like MTC, supports only Basic: ask for a Basic-auth account, or an exemption for this host"
		}
		r.add(ProxyAuth, Fail, err.Error(), hint)
		r.skipRest(ProxyConnect, TLSEndToEnd, ServerHandshake)
	case errors.As(err, &refused):
		r.add(ProxyAuth, Pass, authDetail(t.Proxies[:hop.Hop+1]), "")
		r.add(ProxyConnect, Fail, err.Error(), connectHint(refused, hop, t))
		r.skipRest(TLSEndToEnd, ServerHandshake)
	case hop != nil && hop.Op == "tls":
		r.add(ProxyAuth, Fail, err.Error(), "TLS to an https:// proxy failed: check its certificate, or use http:// if it speaks plain HTTP")
		r.skipRest(ProxyConnect, TLSEndToEnd, ServerHandshake)
	default:
		r.add(ProxyAuth, Skip, "no answer to judge", "")
		r.add(ProxyConnect, Fail, err.Error(), "the proxy did not answer CONNECT like an HTTP proxy: check host and port, and that it is a forward proxy")
		r.skipRest(TLSEndToEnd, ServerHandshake)
	}
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
	switch {
	case e.Status == 403 && port != "443":
		return fmt.Sprintf("squid's stock configuration allows CONNECT only to port 443 (http_access deny CONNECT !SSL_ports): expose the receiver on 443 (a Route or Ingress with TLS passthrough) or have port %s added to SSL_ports", port)
	case e.Status == 403:
		return "the proxy's rules forbid this destination: ask for " + e.Target + " to be allowed"
	case e.Status >= 500 && hop.Hop+1 < len(t.Proxies):
		return fmt.Sprintf("proxy %d could not reach the next proxy %s: check that address from the proxy's network", hop.Hop+1, t.Proxies[hop.Hop+1].String())
	case e.Status >= 500:
		return "the proxy could not reach " + e.Target + ": check the receiver's address and that it is reachable from the proxy (DNS, firewall, the Route's host)"
	}
	return "the proxy refused the tunnel"
}

func tcpHint(err error) string {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.As(err, &dnsErr):
		return "the name does not resolve here: check the spelling and this network's DNS"
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &opErr) && opErr.Timeout()):
		return "no answer: a firewall may drop the traffic, or the address is wrong"
	case strings.Contains(err.Error(), "refused"):
		return "nothing listens at that address and port"
	case strings.Contains(err.Error(), "unreachable"):
		return "no route to that address from here: a proxy may be required"
	}
	return ""
}

func tlsHint(err error) string {
	var ie *tunnel.InterceptedError
	if errors.As(err, &ie) {
		if len(ie.Proxies) > 0 {
			return "use a proxy that relays CONNECT tunnels unchanged, or have the receiver's host exempted from TLS inspection (MTC's stunnel_tcp_proxy must not be an intercepting proxy)"
		}
		return "regenerate and distribute this migration's certificates, or point at the right receiver"
	}
	return "the far end did not complete TLS 1.3: is it a ferry receiver or tunnel server?"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
