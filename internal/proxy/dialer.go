package proxy

import (
	"context"
	"crypto/tls"
	"net"
)

// DialFunc opens a connection; net.Dialer.DialContext is one.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Dialer reaches addresses through a chain of proxies: Base dials the first proxy, which is
// asked to CONNECT to the second, and so on; the last one CONNECTs to the target.
type Dialer struct {
	Base    DialFunc
	Proxies []*Proxy
	// ProxyTLS returns the TLS configuration for an https:// proxy with this host name.
	// Required only when a proxy uses TLS.
	ProxyTLS func(serverName string) *tls.Config
}

// DialContext opens a tunnel to addr. Errors from a hop are *HopError values wrapping the
// cause (a dial error, *AuthError, *RefusedError, *ProtocolError).
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	base := d.Base
	if base == nil {
		base = (&net.Dialer{KeepAlive: -1}).DialContext
	}
	if len(d.Proxies) == 0 {
		return base(ctx, network, addr)
	}
	first := d.Proxies[0]
	conn, err := base(ctx, network, first.Addr)
	if err != nil {
		return nil, &HopError{Hop: 0, Proxy: first.String(), Op: "dial", Err: err}
	}
	for i, p := range d.Proxies {
		if p.TLS {
			if conn, err = d.tlsToProxy(ctx, conn, p); err != nil {
				return nil, &HopError{Hop: i, Proxy: p.String(), Op: "tls", Err: err}
			}
		}
		next := addr
		if i+1 < len(d.Proxies) {
			next = d.Proxies[i+1].Addr
		}
		if conn, err = Connect(ctx, conn, p, next); err != nil {
			return nil, &HopError{Hop: i, Proxy: p.String(), Op: "connect", Err: err}
		}
	}
	return conn, nil
}

func (d *Dialer) tlsToProxy(ctx context.Context, conn net.Conn, p *Proxy) (net.Conn, error) {
	host, _, _ := net.SplitHostPort(p.Addr)
	var cfg *tls.Config
	if d.ProxyTLS != nil {
		cfg = d.ProxyTLS(host)
	}
	if cfg == nil {
		conn.Close()
		return nil, errNoProxyTLS
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}
