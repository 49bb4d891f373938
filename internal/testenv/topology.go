package testenv

import "testing"

// Topology is three namespaces joined in a line: Source <-> Proxy <-> Target. Source and
// Target have no route to each other, so Source reaches Target only through a program
// listening in Proxy. Nothing is added to the test's own namespace.
type Topology struct {
	Source, Proxy, Target *Netns

	SourceIP      string // Source's end of the Source-Proxy link, 10.250.1.1
	ProxySourceIP string // Proxy's end of the Source-Proxy link, 10.250.1.2: where Source finds a proxy
	ProxyTargetIP string // Proxy's end of the Proxy-Target link, 10.250.2.1
	TargetIP      string // Target's end of the Proxy-Target link, 10.250.2.2
}

// NewTopology builds the three namespaces and their links; they are deleted at cleanup.
func NewTopology(t testing.TB) *Topology {
	t.Helper()
	tp := &Topology{
		Source: NewNetns(t, "src"),
		Proxy:  NewNetns(t, "proxy"),
		Target: NewNetns(t, "tgt"),

		SourceIP:      "10.250.1.1",
		ProxySourceIP: "10.250.1.2",
		ProxyTargetIP: "10.250.2.1",
		TargetIP:      "10.250.2.2",
	}
	link(t, tp.Source, "to-proxy", tp.SourceIP, tp.Proxy, "to-source", tp.ProxySourceIP)
	link(t, tp.Proxy, "to-target", tp.ProxyTargetIP, tp.Target, "to-proxy", tp.TargetIP)
	// Forwarding is off in a new namespace; say so anyway, the test relies on it.
	run(t, need1(t, "ip"), "netns", "exec", tp.Proxy.Name, need1(t, "sysctl"), "-qw", "net.ipv4.ip_forward=0")
	return tp
}

// link creates a veth pair directly inside the two namespaces (never in the test's own,
// so names cannot collide there) and puts a /24 address on each end.
func link(t testing.TB, a *Netns, aDev, aIP string, b *Netns, bDev, bIP string) {
	t.Helper()
	ip := need1(t, "ip")
	run(t, ip, "link", "add", aDev, "netns", a.Name, "type", "veth", "peer", "name", bDev, "netns", b.Name)
	for _, end := range []struct {
		ns       *Netns
		dev, adr string
	}{{a, aDev, aIP}, {b, bDev, bIP}} {
		run(t, ip, "-n", end.ns.Name, "addr", "add", end.adr+"/24", "dev", end.dev)
		run(t, ip, "-n", end.ns.Name, "link", "set", end.dev, "up")
	}
}
