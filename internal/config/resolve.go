package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpproxy"

	"github.com/ferrydvm/ferry/internal/proxy"
)

// ProxyFields are the three proxy settings of a cluster Proxy object's spec or status.
type ProxyFields struct {
	HTTPProxy  string `json:"httpProxy,omitempty"`
	HTTPSProxy string `json:"httpsProxy,omitempty"`
	NoProxy    string `json:"noProxy,omitempty"`
}

// ClusterProxy is config.openshift.io/v1 Proxy "cluster".
type ClusterProxy struct {
	Ref    string
	Spec   ProxyFields
	Status ProxyFields
}

// Inputs are everything Resolve looks at. Any of them may be missing.
type Inputs struct {
	Controller     *Controller
	Env            map[string]string
	ClusterProxy   *ClusterProxy
	ClusterVersion string // status.desired.version of ClusterVersion "version"; "" when unknown
	VersionRef     string
	Ignored        []Ignored // found while reading
	// Unreadable are cluster objects ReadCluster was not allowed to read; they are
	// treated as absent.
	Unreadable []Unreadable
}

// Unreadable is a cluster object that could not be read, and what that means.
type Unreadable struct {
	Object string `json:"object"`
	Reason string `json:"reason"`
}

// Value is one effective setting and where it came from. Value is safe to print.
type Value struct {
	Value  string `json:"value"`
	Source string `json:"source"`
	// Note qualifies the setting (who uses it, what ferry makes of it), when needed.
	Note  string `json:"note,omitempty"`
	raw   string
	field string
}

// Raw is the value with its password, for the code that dials.
func (v *Value) Raw() string { return v.raw }

// Field is the field or variable the value was read from, as written: spec.httpsProxy,
// HTTPS_PROXY, Proxy cluster status.httpsProxy.
func (v *Value) Field() string { return v.field }

// masked returns a copy of v that shows its URL's password masked when secret.
func (v *Value) masked(secret bool) *Value {
	out := *v
	out.Value = v.raw
	if secret {
		out.Value = proxy.Redact(v.raw)
	}
	return &out
}

// Effective is the outcome: the settings in force and what was left aside.
type Effective struct {
	HTTPProxy  *Value `json:"http_proxy,omitempty"`
	HTTPSProxy *Value `json:"https_proxy,omitempty"`
	NoProxy    *Value `json:"no_proxy,omitempty"`
	// DataProxies is the data path's chain of CONNECT proxies, in order.
	DataProxies []*Value `json:"data_proxies"`
	// Transfer holds ferry options taken from rsync_* fields, by ferry flag name.
	Transfer map[string]*Value `json:"transfer,omitempty"`
	// Migration holds what the MigrationController says about the migrations' endpoint
	// and pods (rsync_endpoint_type, cluster_subdomain, the rsync pods' resources,
	// supplemental groups and privileges), by MTC field name (MigrationFields).
	Migration map[string]*Value `json:"migration,omitempty"`
	// Cluster is what ferry learnt of the cluster: its version, whether its Proxy applies.
	Cluster ClusterInfo `json:"cluster"`
	Ignored []Ignored   `json:"ignored"`
}

// ClusterInfo says what ferry learnt of the cluster: its OpenShift version, whether the
// cluster-wide Proxy applies and why, and which objects it was not allowed to read.
type ClusterInfo struct {
	Version             string       `json:"version,omitempty"`
	ClusterProxyApplies bool         `json:"cluster_proxy_applies"`
	Reason              string       `json:"reason"`
	Unreadable          []Unreadable `json:"unreadable,omitempty"`
}

// Resolve applies the rules: for talking to API servers, each of HTTP_PROXY, HTTPS_PROXY
// and NO_PROXY comes from the MigrationController, else the environment, else the cluster
// Proxy (status, then spec; not before OpenShift 4.2). The data path uses only
// stunnel_tcp_proxy (or ferry's chain), never the HTTP(S) proxies. An empty value is
// unset wherever it is written (MTC's operator templates default these fields to "").
func Resolve(in Inputs) (*Effective, error) {
	e := &Effective{Ignored: append([]Ignored{}, in.Ignored...), DataProxies: []*Value{}}
	e.Cluster = clusterInfo(in)
	var spec specView
	if in.Controller != nil {
		spec = specView{c: in.Controller}
	}
	for _, v := range []struct {
		dst     **Value
		field   string
		env     string
		cluster func(ProxyFields) string
		secret  bool
	}{
		{&e.HTTPProxy, "http_proxy", "HTTP_PROXY", func(p ProxyFields) string { return p.HTTPProxy }, true},
		{&e.HTTPSProxy, "https_proxy", "HTTPS_PROXY", func(p ProxyFields) string { return p.HTTPSProxy }, true},
		{&e.NoProxy, "no_proxy", "NO_PROXY", func(p ProxyFields) string { return p.NoProxy }, false},
	} {
		val := spec.get(v.field)
		if val == nil {
			val = envValue(in.Env, v.env)
		}
		if val == nil && in.ClusterProxy != nil {
			val = clusterValue(in.ClusterProxy, v.cluster, v.env, e)
		}
		if val != nil {
			*v.dst = val.masked(v.secret)
		}
	}
	if err := e.validate(); err != nil {
		return nil, err
	}
	if err := e.dataPath(spec); err != nil {
		return nil, err
	}
	if err := e.transfer(spec); err != nil {
		return nil, err
	}
	e.migration(spec)
	return e, nil
}

// specView reads typed fields of a controller with their source names.
type specView struct{ c *Controller }

func (s specView) source(field string) string {
	return s.sourceOf("spec." + s.c.Spelled[field])
}

// sourceOf names a part of the spec ("spec.rsync_opt_extras --checksum") in the controller.
func (s specView) sourceOf(part string) string {
	return fmt.Sprintf("MigrationController %s %s%s", s.c.Ref, part, s.c.Where)
}

// get is a typed field's value, nil when the field is not written or is empty.
func (s specView) get(field string) *Value {
	if s.c == nil || s.c.Spelled[field] == "" {
		return nil
	}
	raw, ok := fieldString(specFields(&s.c.Spec)[field])
	if !ok {
		return nil
	}
	return &Value{raw: raw, Source: s.source(field), field: "spec." + s.c.Spelled[field]}
}

// fieldString is a typed scalar field as text; false when it is unset or empty.
func fieldString(ptr any) (string, bool) {
	switch p := ptr.(type) {
	case *string:
		v := strings.TrimSpace(*p)
		return v, v != ""
	case **bool:
		if *p != nil {
			return strconv.FormatBool(**p), true
		}
	case **int64:
		if *p != nil {
			return strconv.FormatInt(**p, 10), true
		}
	}
	return "", false
}

// envValue is the variable name, else its lower-case spelling; an empty one is unset.
func envValue(env map[string]string, name string) *Value {
	for _, n := range []string{name, strings.ToLower(name)} {
		if v := strings.TrimSpace(env[n]); v != "" {
			return &Value{raw: v, Source: "environment " + n, field: n}
		}
	}
	return nil
}

// clusterValue is a field of the cluster Proxy: its status, else its spec (a Proxy the
// cluster network operator has not yet processed has no status).
func clusterValue(p *ClusterProxy, pick func(ProxyFields) string, name string, e *Effective) *Value {
	status, spec := strings.TrimSpace(pick(p.Status)), strings.TrimSpace(pick(p.Spec))
	if !e.Cluster.ClusterProxyApplies {
		if status != "" || spec != "" {
			e.Ignored = append(e.Ignored, Ignored{Field: "Proxy " + p.Ref + " " + name, Reason: e.Cluster.Reason})
		}
		return nil
	}
	field := func(part string) string { return fmt.Sprintf("Proxy %s %s.%s", p.Ref, part, camel(name)) }
	if status != "" {
		return &Value{raw: status, Source: field("status"), field: field("status")}
	}
	if spec == "" {
		return nil
	}
	label := " (no status yet)"
	if p.Status != (ProxyFields{}) {
		label = fmt.Sprintf(" (status has no %s)", camel(name))
	}
	return &Value{raw: spec, Source: field("spec") + label, field: field("spec")}
}

func camel(env string) string {
	return map[string]string{"HTTP_PROXY": "httpProxy", "HTTPS_PROXY": "httpsProxy", "NO_PROXY": "noProxy"}[env]
}

func clusterInfo(in Inputs) ClusterInfo {
	info := versionInfo(in)
	info.Unreadable = append(info.Unreadable, in.Unreadable...)
	return info
}

func versionInfo(in Inputs) ClusterInfo {
	if in.ClusterVersion == "" {
		return ClusterInfo{ClusterProxyApplies: true, Reason: "cluster version unknown: a cluster Proxy object, if any, applies"}
	}
	major, minor, ok := majorMinor(in.ClusterVersion)
	if !ok {
		return ClusterInfo{Version: in.ClusterVersion, ClusterProxyApplies: true, Reason: "cluster version not understood: a cluster Proxy object, if any, applies"}
	}
	if major < 4 || (major == 4 && minor < 2) {
		return ClusterInfo{Version: in.ClusterVersion, Reason: fmt.Sprintf("OpenShift %d.%d has no cluster-wide proxy: set the proxies in the MigrationController", major, minor)}
	}
	return ClusterInfo{Version: in.ClusterVersion, ClusterProxyApplies: true, Reason: fmt.Sprintf("OpenShift %d.%d: the cluster-wide proxy is inherited unless the MigrationController overrides it", major, minor)}
}

func majorMinor(v string) (int, int, bool) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	return major, minor, err1 == nil && err2 == nil
}

// validate checks the API proxies and NO_PROXY, naming the field of each problem.
func (e *Effective) validate() error {
	for _, v := range []*Value{e.HTTPProxy, e.HTTPSProxy} {
		if v == nil {
			continue
		}
		if _, err := proxy.Parse(v.raw); err != nil {
			return fmt.Errorf("%s: %w", v.Source, err)
		}
	}
	if e.NoProxy != nil {
		if err := CheckNoProxy(e.NoProxy.raw); err != nil {
			return fmt.Errorf("%s: %w", e.NoProxy.Source, err)
		}
	}
	return nil
}

// CheckNoProxy validates a NO_PROXY list: "*", host names (".example.com" for subdomains
// only), IP addresses, CIDRs, each optionally with ":port".
func CheckNoProxy(list string) error {
	for _, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" || entry == "*" {
			continue
		}
		if err := checkNoProxyEntry(entry); err != nil {
			return fmt.Errorf("noProxy entry %q: %w", entry, err)
		}
	}
	return nil
}

func checkNoProxyEntry(entry string) error {
	if strings.ContainsAny(entry, " \t") {
		return fmt.Errorf("contains white space")
	}
	if strings.Contains(entry, "/") {
		if _, _, err := net.ParseCIDR(entry); err != nil {
			return fmt.Errorf("not a CIDR")
		}
		return nil
	}
	host := entry
	if h, port, err := net.SplitHostPort(entry); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is not a number from 1 to 65535", port)
		}
		host = h
	} else if strings.Count(entry, ":") == 1 {
		return fmt.Errorf("bad host:port")
	}
	if net.ParseIP(strings.Trim(host, "[]")) != nil {
		return nil
	}
	name := strings.TrimPrefix(strings.TrimPrefix(host, "*"), ".")
	if name == "" {
		return fmt.Errorf("empty host name")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("bad host name")
		}
		for _, r := range label {
			if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return fmt.Errorf("character %q is not allowed in a host name", r)
			}
		}
	}
	return nil
}

// ProxyFor says which proxy, if any, a request to rawURL would use, with NO_PROXY applied
// as golang.org/x/net/http/httpproxy does. The proxy URL returned is masked.
func (e *Effective) ProxyFor(rawURL string) (string, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("--for %q: not an absolute URL", rawURL)
	}
	p, err := e.ProxyFunc()(u)
	if err != nil {
		return "", "", err
	}
	if p == nil {
		return "", "direct: " + e.directReason(u), nil
	}
	src := e.HTTPSProxy
	if u.Scheme == "http" {
		src = e.HTTPProxy
	}
	return proxy.Redact(p.String()), "from " + src.Source, nil
}

func (e *Effective) directReason(u *url.URL) string {
	src := e.HTTPSProxy
	if u.Scheme == "http" {
		src = e.HTTPProxy
	}
	if src == nil {
		return "no proxy is set for " + u.Scheme
	}
	if e.NoProxy == nil {
		return "loopback addresses are never proxied"
	}
	return "matched by NO_PROXY (" + e.NoProxy.Source + ") or a loopback address"
}

// ProxyFunc is the effective API proxy selection, for HTTP clients.
func (e *Effective) ProxyFunc() func(*url.URL) (*url.URL, error) {
	c := httpproxy.Config{}
	if e.HTTPProxy != nil {
		c.HTTPProxy = e.HTTPProxy.raw
	}
	if e.HTTPSProxy != nil {
		c.HTTPSProxy = e.HTTPSProxy.raw
	}
	if e.NoProxy != nil {
		c.NoProxy = e.NoProxy.raw
	}
	return c.ProxyFunc()
}
