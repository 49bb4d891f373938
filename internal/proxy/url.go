// Package proxy parses proxy settings and dials through chains of HTTP CONNECT proxies.
//
// A proxy is written as MTC's stunnel_tcp_proxy value is: http://[user[:password]@]host:port,
// or https://... for a proxy spoken to over TLS. Dialer composes: a base DialFunc reaches the
// first proxy, each proxy is asked to CONNECT to the next, the last one to the target. The
// returned net.Conn is a raw tunnel; TLS to the far end is the caller's business (see
// internal/tunnel). Errors are typed (AuthError, RefusedError, HopError) so callers can explain
// exactly which hop failed and why. Passwords never appear in any string this package makes.
package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Proxy is one parsed proxy URL.
type Proxy struct {
	// TLS is true for an https:// proxy: the connection to the proxy itself is TLS.
	TLS bool
	// Addr is host:port of the proxy (IPv6 literals bracketed).
	Addr string
	// Username and Password are the percent-decoded Basic credentials; empty when absent.
	Username string
	Password string
	// HasPassword distinguishes "user:" (empty password) from "user".
	HasPassword bool
}

// Parse reads a proxy URL in the stunnel_tcp_proxy form. Errors quote the value with any
// password masked.
func Parse(raw string) (*Proxy, error) {
	p, err := parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("proxy URL %q: %w", Redact(raw), err)
	}
	return p, nil
}

func parse(raw string) (*Proxy, error) {
	if raw == "" {
		return nil, fmt.Errorf("empty")
	}
	if !strings.Contains(raw, "://") {
		return nil, fmt.Errorf("no scheme: write it as http://[user:password@]host:port")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a valid URL (%s); percent-encode special characters in the user name and password, for example @ as %%40 and a space as %%20", urlProblem(err))
	}
	p := &Proxy{}
	switch strings.ToLower(u.Scheme) {
	case "http":
	case "https":
		p.TLS = true
	default:
		return nil, fmt.Errorf("scheme %q is not supported: use http:// (or https:// for a proxy that speaks TLS)", u.Scheme)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("a proxy URL has no path, query or fragment")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return nil, fmt.Errorf("no host")
	}
	if port == "" {
		return nil, fmt.Errorf("no port: a proxy URL needs an explicit port, for example %s:3128", host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("port %q is out of range", port)
	}
	p.Addr = net.JoinHostPort(host, port)
	if u.User != nil {
		p.Username = u.User.Username()
		p.Password, p.HasPassword = u.User.Password()
		if strings.Contains(p.Username, ":") {
			return nil, fmt.Errorf("a user name cannot contain ':'")
		}
	}
	return p, nil
}

// urlProblem names what url.Parse disliked without echoing any part of the value, which may
// hold a password.
func urlProblem(err error) string {
	var esc url.EscapeError
	if errors.As(err, &esc) {
		return "a bad percent-escape"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return strings.TrimPrefix(ue.Err.Error(), "net/url: ")
	}
	return "unparsable"
}

// String is the URL with the password masked; it is safe to log.
func (p *Proxy) String() string {
	scheme := "http"
	if p.TLS {
		scheme = "https"
	}
	switch {
	case p.HasPassword:
		return scheme + "://" + url.PathEscape(p.Username) + ":xxxxx@" + p.Addr
	case p.Username != "":
		return scheme + "://" + url.PathEscape(p.Username) + "@" + p.Addr
	}
	return scheme + "://" + p.Addr
}

// Redact masks the password of a proxy URL that may not parse. The user name is kept,
// since it helps to tell which credentials were used.
func Redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		scheme, rest = "", raw
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return raw
	}
	userinfo := rest[:at]
	if user, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
		userinfo = user + ":xxxxx"
	}
	if ok {
		return scheme + "://" + userinfo + rest[at:]
	}
	return userinfo + rest[at:]
}

// ParseAll parses a list of proxy URLs, in order.
func ParseAll(raws []string) ([]*Proxy, error) {
	out := make([]*Proxy, 0, len(raws))
	for _, r := range raws {
		p, err := Parse(r)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
