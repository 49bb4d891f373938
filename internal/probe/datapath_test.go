package probe_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ferrydvm/ferry/internal/engine"
	"github.com/ferrydvm/ferry/internal/pki"
	"github.com/ferrydvm/ferry/internal/probe"
	"github.com/ferrydvm/ferry/internal/proxy"
	"github.com/ferrydvm/ferry/internal/testenv"
	"github.com/ferrydvm/ferry/internal/tunnel"
)

// receiverLab is a topology with a ferry receiver in Target.
type receiverLab struct {
	topo  *testenv.Topology
	certs string
	addr  string
	from  *testenv.Netns // where the probe runs; Source unless a test says otherwise
}

func newReceiverLab(t *testing.T) *receiverLab {
	t.Helper()
	testenv.Root(t)
	topo := testenv.NewTopology(t)
	certs := testenv.Certs(t, topo.TargetIP)
	b := testenv.Bundle(t, certs, pki.Server)
	ln, err := topo.Target.Listen("tcp", topo.TargetIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	rc := &engine.Receiver{Volumes: map[string]string{"v": t.TempDir()}, Version: "test"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		tunnel.Serve(ctx, ln, time.Second, func(ctx context.Context, c net.Conn) {
			if tc, err := tunnel.AcceptTLS(ctx, c, tunnel.ServerConfig(b)); err == nil {
				rc.Handle(ctx, tc)
			}
		})
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return &receiverLab{topo: topo, certs: certs, addr: ln.Addr().String(), from: topo.Source}
}

func (l *receiverLab) probe(t *testing.T, addr string, proxies ...string) *probe.Report {
	t.Helper()
	ps, err := proxy.ParseAll(proxies)
	if err != nil {
		t.Fatal(err)
	}
	b := testenv.Bundle(t, l.certs, pki.Client)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	greet := func(ctx context.Context, c net.Conn) (string, error) { return engine.Greet(ctx, c, "test") }
	sample := func(ctx context.Context, c net.Conn) (time.Duration, float64, error) {
		return engine.Measure(ctx, c, "test", 4<<20)
	}
	return probe.DataPath(ctx, &tunnel.Target{Addr: addr, Proxies: ps, Bundle: b, Base: l.from.Dial}, greet, sample)
}

// expect checks statuses in order and that the named failure's detail and hint say want.
func expect(t *testing.T, r *probe.Report, statuses string, want ...string) {
	t.Helper()
	var got []string
	for _, c := range r.Checks {
		got = append(got, c.Name+"="+c.Status)
	}
	if strings.Join(got, " ") != statuses {
		t.Fatalf("checks:\n  %s\nwant\n  %s", strings.Join(got, " "), statuses)
	}
	f := r.FirstFailure()
	if f != nil {
		t.Logf("%s: %s\n  hint: %s", f.Name, f.Detail, f.Hint)
	}
	for _, w := range want {
		if f == nil || !strings.Contains(f.Detail+" "+f.Hint, w) {
			t.Errorf("the failure does not say %q: %+v", w, f)
		}
	}
}

const allPass = "proxy-tcp=pass proxy-auth=pass proxy-connect=pass tls-end-to-end=pass server-handshake=pass measure=pass"

func squidURL(user, pw, addr string) string {
	return "http://" + url.UserPassword(user, pw).String() + "@" + addr
}

func TestProbeSquid(t *testing.T) {
	l := newReceiverLab(t)
	sq := testenv.Squid(t, testenv.SquidOptions{Netns: l.topo.Proxy, Addr: l.topo.ProxySourceIP, Users: map[string]string{"mig": "p@ss w:rd"}})
	r := l.probe(t, l.addr, squidURL("mig", "p@ss w:rd", sq))
	expect(t, r, allPass)
	if !strings.Contains(r.Checks[4].Detail, "ferry receiver") {
		t.Errorf("server-handshake detail %q", r.Checks[4].Detail)
	}
	if !strings.Contains(r.Checks[5].Detail, "MB/s") || !strings.Contains(r.Checks[5].Detail, "round trip") {
		t.Errorf("measure detail %q", r.Checks[5].Detail)
	}
	expect(t, l.probe(t, l.addr, squidURL("mig", "wrong", sq)),
		"proxy-tcp=pass proxy-auth=fail proxy-connect=skip tls-end-to-end=skip server-handshake=skip measure=skip", "407", "refused these credentials")
	expect(t, l.probe(t, l.addr, "http://"+sq),
		"proxy-tcp=pass proxy-auth=fail proxy-connect=skip tls-end-to-end=skip server-handshake=skip measure=skip", "user and password", "Basic")
}

func TestProbeSquidOnly443(t *testing.T) {
	l := newReceiverLab(t)
	sq := testenv.Squid(t, testenv.SquidOptions{Netns: l.topo.Proxy, Addr: l.topo.ProxySourceIP, Users: map[string]string{"mig": "pw"}, OnlySSLPorts: true})
	_, port, _ := net.SplitHostPort(l.addr)
	expect(t, l.probe(t, l.addr, squidURL("mig", "pw", sq)),
		"proxy-tcp=pass proxy-auth=pass proxy-connect=fail tls-end-to-end=skip server-handshake=skip measure=skip", "403", "only to port 443", "port "+port)
}

func TestProbeChain(t *testing.T) {
	l := newReceiverLab(t)
	tp := testenv.Tinyproxy(t, testenv.TinyproxyOptions{Netns: l.topo.Proxy, Addr: l.topo.ProxySourceIP, User: "a", Password: "b"})
	sq := testenv.Squid(t, testenv.SquidOptions{Netns: l.topo.Proxy, Addr: "127.0.0.1", Users: map[string]string{"mig": "pw"}})
	expect(t, l.probe(t, l.addr, "http://a:b@"+tp, squidURL("mig", "pw", sq)), allPass)
}

// A chain whose second hop cannot be reached through the first: proxy-tcp names both hops,
// with the first one's answer (tinyproxy or squid), and says to check the second.
func TestProbeChainSecondHopUnreachable(t *testing.T) {
	l := newReceiverLab(t)
	const failed = "proxy-tcp=fail proxy-auth=skip proxy-connect=skip tls-end-to-end=skip server-handshake=skip measure=skip"
	closed := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t, l.topo.Proxy, "127.0.0.1"))

	// tinyproxy, then a squid whose port is closed.
	tp := testenv.Tinyproxy(t, testenv.TinyproxyOptions{Netns: l.topo.Proxy, Addr: l.topo.ProxySourceIP, User: "a", Password: "b"})
	r := l.probe(t, l.addr, "http://a:b@"+tp, squidURL("mig", "pw", closed))
	expect(t, r, failed,
		"hop 2 (proxy http://mig:xxxxx@"+closed+") unreachable through hop 1 (proxy http://a:xxxxx@"+tp+")",
		"CONNECT "+closed+" answered 5", "tinyproxy", "hop 1 cannot open a connection to hop 2 at "+closed)
	if !transient(t, r) {
		t.Error("an unreachable hop may come up: it should be transient")
	}

	// tinyproxy, then a second proxy whose name does not resolve from tinyproxy's network.
	r = l.probe(t, l.addr, "http://a:b@"+tp, "http://squid.ferry.invalid:3128")
	expect(t, r, failed,
		"hop 2 (proxy http://squid.ferry.invalid:3128) unreachable through hop 1", "that its name resolves")

	// squid, then a tinyproxy whose port is closed: squid says 503.
	sq := testenv.Squid(t, testenv.SquidOptions{Netns: l.topo.Proxy, Addr: l.topo.ProxySourceIP})
	r = l.probe(t, l.addr, "http://"+sq, "http://a:b@"+closed)
	expect(t, r, failed,
		"hop 2 (proxy http://a:xxxxx@"+closed+") unreachable through hop 1 (proxy http://"+sq+")",
		"CONNECT "+closed+" answered 503", "squid")
	if strings.Contains(fmt.Sprint(r.Checks), ":b@") {
		t.Errorf("the report shows a password: %v", r.Checks)
	}
}

func TestProbeMitmproxy(t *testing.T) {
	l := newReceiverLab(t)
	mitm, _ := testenv.Mitmproxy(t, l.topo.Proxy, l.topo.ProxySourceIP)
	expect(t, l.probe(t, l.addr, "http://"+mitm),
		"proxy-tcp=pass proxy-auth=pass proxy-connect=pass tls-end-to-end=fail server-handshake=skip measure=skip", "mitmproxy", "intercepted", "relays CONNECT tunnels unchanged")
}

func TestProbeNothingListens(t *testing.T) {
	l := newReceiverLab(t)
	closed := fmt.Sprintf("%s:%d", l.topo.ProxySourceIP, testenv.FreePort(t, l.topo.Proxy, l.topo.ProxySourceIP))
	expect(t, l.probe(t, l.addr, "http://"+closed),
		"proxy-tcp=fail proxy-auth=skip proxy-connect=skip tls-end-to-end=skip server-handshake=skip measure=skip", "refused", "nothing listens")
	// Through a working proxy to a port where nothing listens: the proxy says it.
	sq := testenv.Squid(t, testenv.SquidOptions{Netns: l.topo.Proxy, Addr: l.topo.ProxySourceIP})
	dead := fmt.Sprintf("%s:%d", l.topo.TargetIP, testenv.FreePort(t, l.topo.Target, l.topo.TargetIP))
	expect(t, l.probe(t, dead, "http://"+sq),
		"proxy-tcp=pass proxy-auth=pass proxy-connect=fail tls-end-to-end=skip server-handshake=skip measure=skip", "could not reach")
}

func TestProbeOtherMigrationsCertificates(t *testing.T) {
	l := newReceiverLab(t)
	l.certs, l.from = testenv.Certs(t, l.topo.TargetIP), l.topo.Target // another migration's; direct, from inside the target's network
	r := l.probe(t, l.addr)
	expect(t, r, "proxy-tcp=pass proxy-auth=skip proxy-connect=skip tls-end-to-end=fail server-handshake=skip measure=skip", "not signed by this migration's CA")
}

// A first hop whose SYNs go unanswered: an unused address on Source's own link, where the
// kernel's ARP gets no reply, so connect() neither completes nor is refused. proxy-tcp
// fails by the target's dial timeout, names the hop, and may heal.
func TestProbeFirstHopTimesOut(t *testing.T) {
	testenv.Root(t)
	topo := testenv.NewTopology(t)
	const silent = "10.250.1.77:3128" // in the Source-Proxy /24; nothing has this address
	target := localTarget(t, testenv.Certs(t, topo.TargetIP), topo.TargetIP+":443", "http://"+silent)
	target.Base = topo.Source.Dial
	target.DialTimeout = 300 * time.Millisecond
	r := probeTarget(t, target, false)
	expect(t, r, "proxy-tcp=fail proxy-auth=skip proxy-connect=skip tls-end-to-end=skip server-handshake=skip",
		"cannot reach proxy http://"+silent, "timeout", "no answer within 300ms", "a firewall may drop the traffic")
	if !transient(t, r) {
		t.Error("a hop that does not answer in time may come up: it should be transient")
	}
}
