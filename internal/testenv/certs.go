package testenv

import (
	"path/filepath"
	"testing"

	"github.com/ferrydvm/ferry/internal/pki"
)

// Certs writes the certificates of one migration, as `ferry certs generate` does, into a
// new folder of the test and returns it. names go into the server certificate (host names
// or IP addresses the client may dial). Each call makes another CA: two calls are two
// migrations.
func Certs(t testing.TB, names ...string) string {
	t.Helper()
	set, err := pki.Generate(pki.Options{ServerNames: names})
	if err != nil {
		t.Fatalf("generate certificates: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "certs")
	if err := set.Write(dir, false); err != nil {
		t.Fatalf("write certificates: %v", err)
	}
	return dir
}

// Bundle loads one side (pki.Server or pki.Client) of the certificates in dir.
func Bundle(t testing.TB, dir string, role pki.Role) *pki.Bundle {
	t.Helper()
	b, err := pki.Load(dir, role)
	if err != nil {
		t.Fatalf("load certificates: %v", err)
	}
	return b
}
