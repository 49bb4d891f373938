package pki

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerateWriteLoad(t *testing.T) {
	set, err := Generate(Options{ServerNames: []string{"rsync.apps.example.com", "10.1.2.3", "::1"}, Days: 7})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "certs")
	if err := set.Write(dir, false); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{CAKey: 0o600, ServerKey: 0o600, ClientKey: 0o600, CACert: 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	if err := set.Write(dir, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second Write without force: %v", err)
	}

	server, err := Load(dir, Server)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(server.Leaf.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	opts := x509.VerifyOptions{Roots: server.Roots, DNSName: "rsync.apps.example.com", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if _, err := leaf.Verify(opts); err != nil {
		t.Errorf("server certificate does not verify for its DNS name: %v", err)
	}
	if !leaf.IPAddresses[0].Equal(net.ParseIP("10.1.2.3")) || len(leaf.IPAddresses) != 2 {
		t.Errorf("IP SANs %v", leaf.IPAddresses)
	}
	opts.DNSName = "other.example.com"
	if _, err := leaf.Verify(opts); err == nil {
		t.Error("server certificate verifies for a name it does not carry")
	}

	client, err := Load(dir, Client)
	if err != nil {
		t.Fatal(err)
	}
	cl, _ := x509.ParseCertificate(client.Leaf.Certificate[0])
	if _, err := cl.Verify(x509.VerifyOptions{Roots: client.Roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(dir, Client)
	if err == nil || !strings.Contains(err.Error(), "ca.crt") {
		t.Fatalf("Load of an empty dir: %v", err)
	}
}
