// Package env builds the whole two-cluster environment the end-to-end tests run in:
//
//	source netns (10.250.1.1) <-> proxy netns (10.250.1.2 | 10.250.2.1) <-> target netns (10.250.2.2)
//
// Each cluster is a real etcd and kube-apiserver (package cluster) on the test's loopback,
// with ferry's CRDs and OpenShift's Route, Proxy and ClusterVersion installed; a node agent
// (package node) that runs its pods as processes in its namespace; a Service relay (package
// services) and a DNS server answering *.apps.target.test. The proxy namespace runs squid
// with Basic auth on 10.250.1.2:3128 and mitmproxy on 10.250.1.2:8080; the target
// namespace runs the HAProxy router (package router) on 10.250.2.2:443 and hands
// load-balancer addresses from 10.250.2.100. Source reaches the target only through the
// proxy namespace; the test process reaches both API servers.
package env

import (
	"net/url"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/ferrydvm/ferry/internal/testenv"
	"github.com/ferrydvm/ferry/test/e2e/cluster"
	"github.com/ferrydvm/ferry/test/e2e/dns"
	"github.com/ferrydvm/ferry/test/e2e/node"
	"github.com/ferrydvm/ferry/test/e2e/router"
	"github.com/ferrydvm/ferry/test/e2e/services"
)

// Image is the container image that runs the ferry binary under test.
const Image = "ferry:test"

// Subdomain is the target cluster's application domain: Routes get hosts under it.
const Subdomain = "apps.target.test"

// The proxy's credentials; the password has characters that need escaping in a URL.
const (
	ProxyUser     = "migrator"
	ProxyPassword = "p@ss:w/rd%20 x"
)

// Env is the running environment.
type Env struct {
	Source, Target *Side
	Net            *testenv.Topology
	// ProxyURL is squid's address with the credentials, as a user writes it in
	// stunnel_tcp_proxy (the password percent-encoded).
	ProxyURL string
	// SquidAddr is squid's address, 10.250.1.2:3128.
	SquidAddr string
	// MitmURL is mitmproxy's address as a proxy URL; MitmCA its CA certificate file.
	MitmURL, MitmCA string
	// Ferry is the path of the ferry binary under test (what Image runs).
	Ferry string
}

// Side is one cluster and what serves it.
type Side struct {
	*cluster.Cluster
	Netns    *testenv.Netns
	NodeIP   string
	Agent    *node.Agent
	Services *services.Relay
	DNS      *dns.Server
	Router   *router.Router // the target's only
}

// Start builds the environment; everything is torn down at the test's cleanup.
func Start(t testing.TB) *Env {
	t.Helper()
	testenv.Root(t)
	testenv.Need(t, "ip", "haproxy", "squid", "mitmdump")
	e := &Env{Net: testenv.NewTopology(t), Ferry: Ferry(t)}
	routerIP := e.Net.TargetIP
	// Every namespace resolves the application domain to the router; only the proxy
	// namespace has a way there. resolv.conf must exist before programs start.
	dnsServers := map[*testenv.Netns]*dns.Server{}
	for _, ns := range []*testenv.Netns{e.Net.Source, e.Net.Proxy, e.Net.Target} {
		if err := ns.PutFile("resolv.conf", "nameserver 127.0.0.1\n"); err != nil {
			t.Fatal(err)
		}
		s := dns.Start(t, ns, "127.0.0.1:53")
		if err := s.Set("*."+Subdomain, routerIP); err != nil {
			t.Fatal(err)
		}
		dnsServers[ns] = s
	}

	var wg sync.WaitGroup
	wg.Go(func() {
		e.SquidAddr = testenv.Squid(t, testenv.SquidOptions{
			Netns: e.Net.Proxy, Addr: e.Net.ProxySourceIP + ":3128",
			Users: map[string]string{ProxyUser: ProxyPassword},
		})
	})
	wg.Go(func() {
		addr, ca := testenv.Mitmproxy(t, e.Net.Proxy, e.Net.ProxySourceIP+":8080")
		e.MitmURL, e.MitmCA = "http://"+addr, ca
	})
	clusters := cluster.StartAll(t, cluster.Options{Name: "source"}, cluster.Options{Name: "target"})
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	e.ProxyURL = (&url.URL{Scheme: "http", User: url.UserPassword(ProxyUser, ProxyPassword), Host: e.SquidAddr}).String()

	e.Source = e.side(t, clusters[0], e.Net.Source, e.Net.SourceIP, "10.244.1.0/24", nil, "")
	e.Target = e.side(t, clusters[1], e.Net.Target, e.Net.TargetIP, "10.244.2.0/24",
		[]string{"10.250.2.100", "10.250.2.101", "10.250.2.102", "10.250.2.103"}, "to-proxy")
	e.Source.DNS, e.Target.DNS = dnsServers[e.Net.Source], dnsServers[e.Net.Target]
	e.Target.Router = router.Start(t, router.Options{
		Cluster: e.Target.Cluster, Netns: e.Net.Target, IP: routerIP, Subdomain: Subdomain,
		Hosts: []*testenv.Netns{e.Net.Source, e.Net.Proxy, e.Net.Target},
	})
	return e
}

// side installs the CRDs in one cluster and starts its node agent and Service relay.
func (e *Env) side(t testing.TB, c *cluster.Cluster, ns *testenv.Netns, nodeIP, podCIDR string, lbIPs []string, lbDev string) *Side {
	t.Helper()
	c.InstallCRDs(t, CRDFiles()...)
	s := &Side{Cluster: c, Netns: ns, NodeIP: nodeIP}
	s.Services = services.Start(t, services.Options{
		Cluster: c, Netns: ns, NodeIP: nodeIP, LoadBalancerIPs: lbIPs, LoadBalancerDevice: lbDev,
	})
	s.Agent = node.Start(t, node.Options{
		Cluster: c, Netns: ns, NodeIP: nodeIP, PodCIDR: podCIDR,
		Images:      map[string]string{Image: e.Ferry},
		ServiceHost: "10.96.0.1:443",
	})
	return s
}

// CRDFiles are the CRDs every cluster gets: ferry's own, generated from api/v1alpha1,
// and the OpenShift types (Route, Proxy, ClusterVersion).
func CRDFiles() []string {
	root := moduleRoot()
	crds, _ := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	return append(crds, filepath.Join(root, "test", "e2e", "testdata", "openshift-crds.yaml"))
}

// moduleRoot is ferry's repository root, found from this file's place in it.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

var ferryOnce struct {
	sync.Once
	path string
	err  error
}

// Ferry builds the ferry binary under test once per test binary and returns its path
// (see cluster.Build).
func Ferry(t testing.TB) string {
	t.Helper()
	ferryOnce.Do(func() {
		ferryOnce.path, ferryOnce.err = cluster.Build("github.com/ferrydvm/ferry/cmd/ferry", "ferry")
	})
	if ferryOnce.err != nil {
		t.Fatal(ferryOnce.err)
	}
	return ferryOnce.path
}
