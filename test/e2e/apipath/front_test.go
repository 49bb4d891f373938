package apipath

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/ferrydvm/ferry/internal/pki"
	"github.com/ferrydvm/ferry/internal/testenv"
	"github.com/ferrydvm/ferry/test/e2e/cluster"
)

// frontRefusingExec runs nginx as a TLS front of the API server that passes every request
// (with its Upgrade header) except exec, which it answers itself with status: the HTML
// page a proxy or load balancer shows when a rule blocks a path.
func frontRefusingExec(t *testing.T, c *cluster.Cluster, status int) *rest.Config {
	t.Helper()
	bin := testenv.Need(t, "nginx")["nginx"]
	dir := t.TempDir()
	set, err := pki.Generate(pki.Options{ServerNames: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(dir, "certs")
	if err := set.Write(certs, false); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t, nil, "127.0.0.1"))
	conf := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 64; }
http {
  access_log %[1]s/access.log;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server {
    listen %[2]s ssl;
    ssl_certificate %[3]s/server.crt;
    ssl_certificate_key %[3]s/server.key;
    location ~ /exec$ { return %[5]d; }
    location / {
      proxy_pass %[4]s;
      proxy_http_version 1.1;
      proxy_ssl_verify off;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
    }
  }
}
`, dir, addr, certs, c.URL, status)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	startNginx(t, bin, dir, addr)
	ca, err := os.ReadFile(filepath.Join(certs, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	rc := rest.CopyConfig(c.RESTConfig())
	rc.Host = "https://" + addr
	rc.TLSClientConfig = rest.TLSClientConfig{CAData: ca}
	return rc
}

// startNginx runs nginx in dir until the test ends and waits until it listens at addr.
func startNginx(t *testing.T, bin, dir, addr string) {
	t.Helper()
	out, err := os.Create(filepath.Join(dir, "nginx.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(bin, "-c", filepath.Join(dir, "nginx.conf"), "-p", dir)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := testenv.StartCommand(cmd); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error.log:\n%s", log)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case err := <-done:
			log, _ := os.ReadFile(out.Name())
			t.Fatalf("nginx exited before listening on %s: %v\n%s", addr, err, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx not listening on %s after 30s", addr)
		}
	}
}
