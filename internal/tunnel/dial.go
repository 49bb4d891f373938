package tunnel

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/ferrydvm/ferry/internal/pki"
	"github.com/ferrydvm/ferry/internal/proxy"
)

// KeepAlive is the TCP keepalive period of every connection ferry opens or accepts: long
// quiet phases must not let a load balancer or proxy forget the connection.
const KeepAlive = 30 * time.Second

// Target says where and how to reach a receiver.
type Target struct {
	Addr       string         // host:port of the receiver (or its route/load balancer)
	ServerName string         // expected name in the server certificate; default: host of Addr
	Proxies    []*proxy.Proxy // CONNECT proxies in order; none for a direct connection
	Bundle     *pki.Bundle    // the client side of the migration's certificates
	// Base dials the first hop; default a net.Dialer with KeepAlive.
	Base proxy.DialFunc
	// DialTimeout bounds opening a connection as a whole: TCP to the first hop, every
	// CONNECT, the TLS handshake. Zero means DefaultDialTimeout. The connection Dial returns
	// is not bound by it.
	DialTimeout time.Duration
}

// DefaultDialTimeout bounds Dial when Target.DialTimeout is zero: a proxy that takes the
// connection but never answers CONNECT, or a far end that never answers TLS, must end in
// a diagnosis rather than a hang.
const DefaultDialTimeout = 30 * time.Second

// DialLimit is how long Dial may take: DialTimeout, or DefaultDialTimeout.
func (t *Target) DialLimit() time.Duration {
	if t.DialTimeout > 0 {
		return t.DialTimeout
	}
	return DefaultDialTimeout
}

func (t *Target) serverName() string {
	if t.ServerName != "" {
		return t.ServerName
	}
	host, _, err := net.SplitHostPort(t.Addr)
	if err != nil {
		return t.Addr
	}
	return host
}

// Dial opens the raw path (through the proxies) and completes a mutually authenticated TLS
// 1.3 handshake, all within t.DialLimit(). When the certificate presented does not lead to
// the migration CA, nothing is sent and the error is an *InterceptedError; when the time
// runs out, the error is a *TimeoutError naming the step under way.
func Dial(ctx context.Context, t *Target) (*Conn, error) {
	limit := t.DialLimit()
	dctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel() // the connection returned is not bound to dctx: CONNECT and TLS stop watching it when they end
	raw, err := DialRaw(dctx, t)
	if err == nil {
		var c *Conn
		if c, err = Handshake(dctx, raw, t); err == nil {
			return c, nil
		}
	}
	if dctx.Err() != nil && ctx.Err() == nil { // our bound, not the caller's, ran out
		return nil, &TimeoutError{Limit: limit, Err: err}
	}
	return nil, err
}

// TimeoutError: opening a connection took longer than the dial timeout. Err names the step
// that was under way (TCP to the receiver or a proxy, a CONNECT, the TLS handshake). It
// may pass: a later try is worth making.
type TimeoutError struct {
	Limit time.Duration
	Err   error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%v (no answer within %v)", e.Err, e.Limit)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// Timeout and Temporary make it a net.Error that reports a timeout.
func (e *TimeoutError) Timeout() bool { return true }

// Temporary is true: waiting may help.
func (e *TimeoutError) Temporary() bool { return true }

// DialRaw opens the path to t.Addr through t.Proxies without TLS.
func DialRaw(ctx context.Context, t *Target) (net.Conn, error) {
	base := t.Base
	if base == nil {
		base = (&net.Dialer{KeepAlive: KeepAlive}).DialContext
	}
	d := &proxy.Dialer{Base: base, Proxies: t.Proxies, ProxyTLS: ProxyConfig}
	conn, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		if len(t.Proxies) == 0 {
			return nil, fmt.Errorf("connect to %s: %w", t.Addr, err)
		}
		return nil, err
	}
	return conn, nil
}

// Handshake runs the client side of the TLS handshake over an open path.
func Handshake(ctx context.Context, raw net.Conn, t *Target) (*Conn, error) {
	conn := clientConn(raw, ClientConfig(t.Bundle, t.serverName()))
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, explainHandshake(err, t)
	}
	return conn, nil
}

// InterceptedError: the server's certificate does not lead to the migration CA. Through a
// proxy that almost always means the proxy terminates TLS and forges certificates.
type InterceptedError struct {
	Issuer      string // issuer of the certificate presented, e.g. "CN=mitmproxy,O=mitmproxy"
	Subject     string
	Fingerprint string // SHA-256 of the presented certificate, hex
	Proxies     []string
	Target      string
}

func (e *InterceptedError) Error() string {
	if len(e.Proxies) == 0 {
		return fmt.Sprintf("TLS to %s: the server presented a certificate (subject %q, issuer %q, SHA-256 %s) that is not signed by this migration's CA: is it a receiver of another migration, or are the certificates from another `ferry certs generate`?",
			e.Target, e.Subject, e.Issuer, e.Fingerprint)
	}
	return fmt.Sprintf("TLS to %s was intercepted: the certificate presented (issuer %q, subject %q, SHA-256 %s) is not signed by this migration's CA, so a proxy on the path (%s) terminates TLS and re-encrypts it. Nothing was sent. Use a proxy that relays CONNECT tunnels unchanged, or have %s exempted from TLS inspection",
		e.Target, e.Issuer, e.Subject, e.Fingerprint, strings.Join(e.Proxies, " -> "), e.Target)
}

func explainHandshake(err error, t *Target) error {
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) && len(cve.UnverifiedCertificates) > 0 {
		leaf := cve.UnverifiedCertificates[0]
		if signedByCA(cve.UnverifiedCertificates, t.Bundle) {
			return fmt.Errorf("TLS to %s: the server certificate is from this migration but is not valid for %q (it names %s): pass --server-name with one of those, or regenerate with --server-name %s: %w",
				t.Addr, t.serverName(), certNames(leaf), t.serverName(), err)
		}
		sum := sha256.Sum256(leaf.Raw)
		e := &InterceptedError{Issuer: leaf.Issuer.String(), Subject: leaf.Subject.String(), Fingerprint: hex.EncodeToString(sum[:]), Target: t.Addr}
		for _, p := range t.Proxies {
			e.Proxies = append(e.Proxies, p.String())
		}
		return e
	}
	return fmt.Errorf("TLS handshake with %s: %w", t.Addr, err)
}

func signedByCA(chain []*x509.Certificate, b *pki.Bundle) bool {
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: b.Roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}

func certNames(c *x509.Certificate) string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "no names"
	}
	return strings.Join(names, ", ")
}
