package testenv

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// echoServer listens on ip:0 inside ns, echoes every connection, and returns its address.
func echoServer(t *testing.T, ns *Netns, ip string) string {
	t.Helper()
	l, err := ns.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go serveEcho(l)
	return l.Addr().String()
}

func serveEcho(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() { io.Copy(c, c); c.Close() }()
	}
}

// proxyConn is a connection through a proxy after its reply to CONNECT.
type proxyConn struct {
	net.Conn
	r *bufio.Reader // holds what the proxy sent after its reply
}

func (c *proxyConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// connect dials proxy from ns, asks it to CONNECT to target (with Basic auth when user is
// set), and returns the status code and the connection.
func connect(t *testing.T, ns *Netns, proxy, target, user, pass string) (int, *proxyConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ns.Dial(ctx, "tcp", proxy)
	if err != nil {
		t.Fatalf("dial proxy %s: %v", proxy, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n"
	if user != "" {
		req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)) + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	tp := textproto.NewReader(r)
	status, err := tp.ReadLine()
	if err != nil {
		t.Fatalf("CONNECT via %s: reading reply: %v", proxy, err)
	}
	if _, err := tp.ReadMIMEHeader(); err != nil {
		t.Fatalf("CONNECT via %s: reading headers: %v", proxy, err)
	}
	f := strings.Fields(status)
	if len(f) < 2 {
		t.Fatalf("CONNECT via %s: bad status line %q", proxy, status)
	}
	code, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("CONNECT via %s: bad status line %q", proxy, status)
	}
	return code, &proxyConn{Conn: c, r: r}
}

// echoes checks that what is written to c comes back.
func echoes(t *testing.T, c io.ReadWriter) {
	t.Helper()
	msg := fmt.Sprintf("ping %d\n", time.Now().UnixNano())
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("echo write: %v", err)
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || got != msg {
		t.Fatalf("echo: got %q, %v; want %q", got, err, msg)
	}
}

// selfSigned writes an ECDSA P-256 certificate for localhost and 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certPath, keyPath string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePEM(t, certPath, "CERTIFICATE", der)
	writePEM(t, keyPath, "PRIVATE KEY", keyDER)
	return certPath, keyPath, cert
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
