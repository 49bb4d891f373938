package testenv

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestTinyproxyConnect(t *testing.T) {
	t.Parallel()
	ns := NewNetns(t, "tiny")
	target := echoServer(t, ns, "127.0.0.1")
	proxy := Tinyproxy(t, TinyproxyOptions{Netns: ns, User: "ferry", Password: "s3cret-pw"})
	if code, _ := connect(t, ns, proxy, target, "", ""); code != http.StatusProxyAuthRequired {
		t.Errorf("CONNECT without credentials: %d, want 407", code)
	}
	code, c := connect(t, ns, proxy, target, "ferry", "s3cret-pw")
	if code != http.StatusOK {
		t.Fatalf("CONNECT %s via tinyproxy: %d, want 200", target, code)
	}
	echoes(t, c)
}

func TestMitmproxyForgesWithItsCA(t *testing.T) {
	t.Parallel()
	ns := NewNetns(t, "mitm")
	certPath, keyPath, _ := selfSigned(t)
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ns.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go serveEcho(tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{pair}}))

	proxy, caPath := Mitmproxy(t, ns, "")
	ca := readCert(t, caPath)
	if ca.Subject.CommonName != "mitmproxy" {
		t.Errorf("mitmproxy CA subject %q, want CN=mitmproxy", ca.Subject)
	}
	code, c := connect(t, ns, proxy, l.Addr().String(), "", "")
	if code != http.StatusOK {
		t.Fatalf("CONNECT via mitmproxy: %d, want 200", code)
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true}) // we check the chain below
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS through mitmproxy: %v", err)
	}
	leaf := tc.ConnectionState().PeerCertificates[0]
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		t.Fatalf("certificate seen through mitmproxy (%s) not signed by its CA: %v", leaf.Subject, err)
	}
	echoes(t, tc)
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cert
}

func TestRsyncDaemonServesFiles(t *testing.T) {
	t.Parallel()
	ns := NewNetns(t, "rsync")
	src, dst := t.TempDir(), t.TempDir()
	want := []byte("volume data\n")
	if err := os.WriteFile(filepath.Join(src, "file"), want, 0o640); err != nil {
		t.Fatal(err)
	}
	addr := RsyncDaemon(t, ns, "", src)
	rsync := Need(t, "rsync")["rsync"]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := ns.Command(ctx, rsync, "-a", "rsync://"+addr+"/mnt/", dst+"/").CombinedOutput(); err != nil {
		t.Fatalf("rsync from %s: %v: %s", addr, err, out)
	}
	got, err := os.ReadFile(filepath.Join(dst, "file"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("file copied by rsync: %q, %v; want %q", got, err, want)
	}
}

func TestStunnelServerTerminatesTLS(t *testing.T) {
	t.Parallel()
	ns := NewNetns(t, "stunnel")
	backend := echoServer(t, ns, "127.0.0.1")
	certPath, keyPath, cert := selfSigned(t)
	accept := net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t, ns, "127.0.0.1")))
	Stunnel(t, ns, "[echo]\naccept = "+accept+"\nconnect = "+backend+
		"\ncert = "+certPath+"\nkey = "+keyPath+"\n")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := ns.Dial(ctx, "tcp", accept)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	c := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	c.SetDeadline(time.Now().Add(10 * time.Second))
	echoes(t, c)
}
