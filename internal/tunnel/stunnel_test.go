package tunnel_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferrydvm/ferry/internal/pki"
	"github.com/ferrydvm/ferry/internal/proxy"
	"github.com/ferrydvm/ferry/internal/testenv"
	"github.com/ferrydvm/ferry/internal/tunnel"
)

// rsyncTree makes a small tree for the rsync daemon to serve.
func rsyncTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for i := range 50 {
		p := filepath.Join(dir, fmt.Sprintf("d%d", i%5), fmt.Sprintf("f%d", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(fmt.Sprintf("file %d\n", i)), 0o640)
	}
	big := make([]byte, 8<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	os.WriteFile(filepath.Join(dir, "big"), big, 0o600)
	return dir
}

// rsyncPull runs the rsync client in ns against a daemon at addr and checks the copy.
func rsyncPull(t *testing.T, ns *testenv.Netns, addr, src string) {
	t.Helper()
	dst := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := ns.Command(ctx, "rsync", "-aH", "--numeric-ids", "rsync://"+addr+"/mnt/", dst+"/").CombinedOutput()
	if err != nil {
		t.Fatalf("rsync through the tunnel: %v\n%s", err, out)
	}
	if out, err := exec.Command("diff", "-r", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("rsync copy differs: %s", out)
	}
}

// TestStunnelClientToFerryServer: MTC's client side (stunnel, protocol = connect through
// squid, verifying the server against ca.crt, presenting client.crt) against ferry's server.
func TestStunnelClientToFerryServer(t *testing.T) {
	testenv.Need(t, "stunnel4", "rsync")
	testenv.Root(t)
	topo := testenv.NewTopology(t)
	certs := testenv.Certs(t, topo.TargetIP)
	src := rsyncTree(t)
	rsyncd := testenv.RsyncDaemon(t, nil, "", src) // where ferry's server forwards

	ln, err := topo.Target.Listen("tcp", topo.TargetIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pki.Load(certs, pki.Server)
	srv := &tunnel.Server{Forward: rsyncd, TLS: tunnel.ServerConfig(b), Log: slog.New(slog.DiscardHandler), Grace: time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	sq := testenv.Squid(t, testenv.SquidOptions{Netns: topo.Proxy, Addr: topo.ProxySourceIP, Users: map[string]string{"mig": "s3cret"}})
	port := testenv.FreePort(t, topo.Source, "127.0.0.1")
	testenv.Stunnel(t, topo.Source, fmt.Sprintf(`[rsync]
client = yes
accept = 127.0.0.1:%d
connect = %s
protocol = connect
protocolHost = %s
protocolUsername = mig
protocolPassword = s3cret
protocolAuthentication = basic
CAfile = %s
verifyChain = yes
checkIP = %s
cert = %s
key = %s
`, port, sq, ln.Addr(), filepath.Join(certs, "ca.crt"), topo.TargetIP, filepath.Join(certs, "client.crt"), filepath.Join(certs, "client.key")))
	rsyncPull(t, topo.Source, fmt.Sprintf("127.0.0.1:%d", port), src)
}

// TestFerryClientToStunnelServer: ferry's client through squid against MTC's server side
// (stunnel requiring a client certificate from ca.crt).
func TestFerryClientToStunnelServer(t *testing.T) {
	testenv.Need(t, "stunnel4", "rsync")
	testenv.Root(t)
	topo := testenv.NewTopology(t)
	certs := testenv.Certs(t, topo.TargetIP)
	src := rsyncTree(t)
	rsyncd := testenv.RsyncDaemon(t, topo.Target, "127.0.0.1", src)
	stunnelPort := testenv.FreePort(t, topo.Target, topo.TargetIP)
	testenv.Stunnel(t, topo.Target, fmt.Sprintf(`[rsync]
accept = %s:%d
connect = %s
cert = %s
key = %s
CAfile = %s
verifyChain = yes
`, topo.TargetIP, stunnelPort, rsyncd, filepath.Join(certs, "server.crt"), filepath.Join(certs, "server.key"), filepath.Join(certs, "ca.crt")))

	sq := testenv.Squid(t, testenv.SquidOptions{Netns: topo.Proxy, Addr: topo.ProxySourceIP, Users: map[string]string{"mig": hardPassword}})
	proxies, err := proxy.ParseAll([]string{squidURL("mig", hardPassword, sq)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pki.Load(certs, pki.Client)
	ln, err := topo.Source.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &tunnel.Client{
		Target: &tunnel.Target{Addr: fmt.Sprintf("%s:%d", topo.TargetIP, stunnelPort), Proxies: proxies, Bundle: b, Base: topo.Source.Dial},
		Log:    slog.New(slog.DiscardHandler), Grace: time.Second,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cl.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	rsyncPull(t, topo.Source, ln.Addr().String(), src)
}
