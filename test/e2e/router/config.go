package router

import (
	"fmt"
	"slices"
	"strings"
)

// Backend is one host served by the router and the pod addresses behind it.
type Backend struct {
	Host    string   // the SNI name, lower case
	Servers []string // ip:port of ready pods; none: connections are closed
	Source  string   // "route ns/name" or "ingress ns/name", for the config's comments
}

// Config renders haproxy.cfg: one TCP frontend on listen that inspects the TLS
// ClientHello and picks the backend by SNI. Unknown names get no backend, so HAProxy
// closes the connection, as OpenShift's router does for hosts it does not serve.
func Config(listen, dir string, backends []Backend) string {
	backends = slices.Clone(backends)
	slices.SortFunc(backends, func(a, b Backend) int { return strings.Compare(a.Host, b.Host) })
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn 4096
    pidfile %s/haproxy.pid

defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h

frontend passthrough
    bind %s
    tcp-request inspect-delay 5s
    tcp-request content accept if { req_ssl_hello_type 1 }
`, dir, listen)
	for i, be := range backends {
		fmt.Fprintf(&b, "    use_backend be%d if { req_ssl_sni -i %s }\n", i, be.Host)
	}
	for i, be := range backends {
		fmt.Fprintf(&b, "\n# %s\nbackend be%d\n", be.Source, i)
		for j, s := range be.Servers {
			fmt.Fprintf(&b, "    server pod%d %s\n", j, s)
		}
	}
	return b.String()
}
