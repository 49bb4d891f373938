package proxy

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// AuthError is a 407 reply: the proxy wants credentials, or other ones.
type AuthError struct {
	Proxy           string // redacted URL
	Target          string // host:port asked for
	SentCredentials bool
	Schemes         []string // authentication schemes the proxy offered, e.g. "Basic", "NTLM"
}

func (e *AuthError) Error() string {
	what := "no credentials were given: add user:password@ to the proxy URL"
	if e.SentCredentials {
		what = "the user name or password was refused: check them (percent-encode special characters)"
	}
	msg := fmt.Sprintf("proxy %s requires authentication (407) for CONNECT %s: %s", e.Proxy, e.Target, what)
	if len(e.Schemes) > 0 {
		msg += "; it asks for " + strings.Join(e.Schemes, ", ")
		if !e.OffersBasic() {
			msg += ", but only Basic authentication is supported: ask for a Basic-auth account or an exemption for this host"
		}
	}
	return msg
}

// OffersBasic reports whether the proxy offered Basic authentication (or named no scheme).
func (e *AuthError) OffersBasic() bool {
	if len(e.Schemes) == 0 {
		return true
	}
	for _, s := range e.Schemes {
		if strings.EqualFold(s, "basic") {
			return true
		}
	}
	return false
}

// RefusedError is any other non-2xx reply to CONNECT.
type RefusedError struct {
	Proxy  string
	Target string
	Status int
	Reason string
	Server string
}

func (e *RefusedError) Error() string {
	msg := fmt.Sprintf("proxy %s refused CONNECT %s: %d %s", e.Proxy, e.Target, e.Status, e.Reason)
	if _, port, _ := net.SplitHostPort(e.Target); e.Status == 403 && port != "443" {
		msg += fmt.Sprintf("; many proxies (squid's stock configuration among them) allow CONNECT only to port 443: expose the target on 443 or ask for port %s to be allowed", port)
	}
	return msg
}

// ProtocolError is a reply that is not HTTP, or a connection closed before a reply.
type ProtocolError struct {
	Proxy  string
	Target string
	Err    error
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("CONNECT %s via proxy %s: %v (is this an HTTP proxy?)", e.Target, e.Proxy, e.Err)
}

func (e *ProtocolError) Unwrap() error { return e.Err }

func replyError(p *Proxy, target string, r *Reply) error {
	if r.Status == 407 {
		e := &AuthError{Proxy: p.String(), Target: target, SentCredentials: p.Username != ""}
		for _, a := range r.Authenticate {
			scheme, _, _ := strings.Cut(a, " ")
			e.Schemes = append(e.Schemes, scheme)
		}
		return e
	}
	return &RefusedError{Proxy: p.String(), Target: target, Status: r.Status, Reason: r.Reason, Server: r.Server}
}

// HopError says which hop of a chain failed: dialing the first proxy, TLS to an https
// proxy, or a CONNECT through a proxy.
type HopError struct {
	Hop   int    // 0 for the first proxy
	Proxy string // redacted URL of the proxy at that hop
	Op    string // "dial", "tls", "connect"
	Err   error
}

func (e *HopError) Error() string {
	switch e.Op {
	case "dial":
		return fmt.Sprintf("reach proxy %s (hop %d): %v", e.Proxy, e.Hop+1, e.Err)
	case "tls":
		return fmt.Sprintf("TLS to proxy %s (hop %d): %v", e.Proxy, e.Hop+1, e.Err)
	}
	return e.Err.Error()
}

func (e *HopError) Unwrap() error { return e.Err }

var errNoProxyTLS = errors.New("no TLS configuration for https:// proxies")
