package testenv

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Mitmproxy runs mitmdump, an intercepting proxy: it answers CONNECT, then ends the
// client's TLS with a certificate it forges on the fly, signed by its own CA
// (CN=mitmproxy). addr is "ip" or "ip:port" (default 127.0.0.1, free port). It returns
// its address and the path of its CA certificate (PEM). Like a company's interception box,
// it does not verify the upstream server's certificate (ssl_insecure) and relays whatever
// runs inside TLS (tcp_hosts=.*; by default it would wait for an HTTP request).
func Mitmproxy(t testing.TB, ns *Netns, addr string) (string, string) {
	t.Helper()
	bin := need1(t, "mitmdump")
	host, port := listenAddr(t, ns, addr)
	dir := peerDir(t, "mitmproxy")
	cmd := ns.Command(context.Background(), bin, "--listen-host", host, "-p", port,
		"--set", "confdir="+dir, "--set", "ssl_insecure=true", "--set", "tcp_hosts=.*", "-q")
	cmd.Env = append(os.Environ(), "HOME="+dir) // keep it off root's ~/.mitmproxy
	p := startPeer(t, "mitmdump", dir, cmd)
	addr = net.JoinHostPort(host, port)
	p.waitListening(t, ns, addr, 60*time.Second)
	ca := filepath.Join(dir, "mitmproxy-ca-cert.pem")
	if _, err := os.Stat(ca); err != nil {
		t.Fatalf("mitmdump listens but wrote no CA certificate: %v", err)
	}
	return addr, ca
}
