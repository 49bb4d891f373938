package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestNginxDropsOrPassesUpgrade(t *testing.T) {
	upstream := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("upgrade=" + r.Header.Get("Upgrade")))
	}))
	defer upstream.Close()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	tc := upstream.TLS.Certificates[0]
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tc.Certificate[0]}), 0o600)
	kb, _ := x509.MarshalPKCS8PrivateKey(tc.PrivateKey)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, pass := range []bool{false, true} {
		addr := Nginx(t, NginxOptions{Upstream: upstream.URL, CertFile: cert, KeyFile: key, PassUpgrade: pass})
		req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 64)
		n, _ := resp.Body.Read(b)
		resp.Body.Close()
		want := "upgrade="
		if pass {
			want = "upgrade=websocket"
		}
		if string(b[:n]) != want {
			t.Errorf("PassUpgrade %v: upstream saw %q", pass, b[:n])
		}
	}
}
