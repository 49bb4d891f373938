package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferrydvm/ferry/internal/testenv"
)

// pair is a client-side address that reaches the sink through a tunnel pair and squid.
type pair struct {
	name string
	addr string
}

func ferryPair(b *testing.B, bin, certs, squid, sinkAddr string) pair {
	server, client := freeAddr(b), freeAddr(b)
	start(b, bin, "tunnel", "server", "--listen", server, "--forward", sinkAddr, "--certs", certs, "--log-level", "warn")
	waitPort(b, server)
	start(b, bin, "tunnel", "client", "--listen", client, "--connect", server, "--certs", certs,
		"--proxy", "http://bench:pw@"+squid, "--log-level", "warn")
	waitPort(b, client)
	return pair{"ferry", client}
}

func stunnelPair(b *testing.B, certs, squid, sinkAddr string) pair {
	server, client := freeAddr(b), freeAddr(b)
	conf := func(name, body string) string {
		p := filepath.Join(b.TempDir(), name)
		os.WriteFile(p, []byte("foreground = yes\npid =\n"+body), 0o600)
		return p
	}
	f := func(n string) string { return filepath.Join(certs, n) }
	start(b, "stunnel4", conf("server.conf", fmt.Sprintf("[s]\naccept = %s\nconnect = %s\ncert = %s\nkey = %s\nCAfile = %s\nverifyChain = yes\n",
		server, sinkAddr, f("server.crt"), f("server.key"), f("ca.crt"))))
	waitPort(b, server)
	start(b, "stunnel4", conf("client.conf", fmt.Sprintf("[c]\nclient = yes\naccept = %s\nconnect = %s\nprotocol = connect\nprotocolHost = %s\nprotocolUsername = bench\nprotocolPassword = pw\nprotocolAuthentication = basic\nCAfile = %s\nverifyChain = yes\ncheckIP = 127.0.0.1\ncert = %s\nkey = %s\n",
		client, squid, server, f("ca.crt"), f("client.crt"), f("client.key"))))
	waitPort(b, client)
	return pair{"stunnel", client}
}

// BenchmarkTunnelVsStunnel pushes 512 MiB through a ferry tunnel pair and a stunnel pair,
// both through the same squid with Basic auth, alternating, and reports throughput, the
// time to set up a connection, and ferry's ratios to stunnel.
func BenchmarkTunnelVsStunnel(b *testing.B) {
	testenv.Need(b, "stunnel4", "squid")
	const size = 512 << 20
	const rounds = 7
	bin, dir := ferryBinary(b), certs(b)
	squid := testenv.Squid(b, testenv.SquidOptions{Users: map[string]string{"bench": "pw"}})
	sinkAddr := sink(b)
	pairs := []pair{ferryPair(b, bin, dir, squid, sinkAddr), stunnelPair(b, dir, squid, sinkAddr)}
	push(pairs[0].addr, 1<<20) // warm up both
	push(pairs[1].addr, 1<<20)

	bulk := map[string][]time.Duration{}
	setup := map[string][]time.Duration{}
	for b.Loop() {
		for range rounds {
			for _, p := range pairs {
				d, err := push(p.addr, size)
				if err != nil {
					b.Fatalf("%s: %v", p.name, err)
				}
				bulk[p.name] = append(bulk[p.name], d)
				for range 20 {
					d, err := connectTime(p.addr)
					if err != nil {
						b.Fatalf("%s connect: %v", p.name, err)
					}
					setup[p.name] = append(setup[p.name], d)
				}
			}
		}
	}
	rate := func(n string) float64 { return float64(size) / median(bulk[n]).Seconds() / 1e6 }
	fr, sr := rate("ferry"), rate("stunnel")
	fs, ss := median(setup["ferry"]), median(setup["stunnel"])
	fmt.Printf("\n512 MiB through squid (median of %d):  ferry %.0f MB/s   stunnel %.0f MB/s   ratio %.2fx (target >= 1.3x)\n", rounds, fr, sr, fr/sr)
	fmt.Printf("connection setup (median of %d):       ferry %v   stunnel %v   ratio %.2f (target <= 1.0)\n", len(setup["ferry"]), fs.Round(time.Microsecond), ss.Round(time.Microsecond), fs.Seconds()/ss.Seconds())
	b.ReportMetric(fr, "ferry-MB/s")
	b.ReportMetric(sr, "stunnel-MB/s")
	b.ReportMetric(fr/sr, "throughput-ratio")
	b.ReportMetric(fs.Seconds()/ss.Seconds(), "setup-ratio")
}
