package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferrydvm/ferry/internal/testenv"
)

// syncBuffer is a bytes.Buffer safe for the goroutines that log into it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func globals() (*GlobalOptions, *syncBuffer, *syncBuffer) {
	out, errs := &syncBuffer{}, &syncBuffer{}
	g := &GlobalOptions{Stdout: out, Stderr: errs, LogFormat: "text", LogLevel: "info"}
	g.setupLog()
	return g, out, errs
}

// run executes the root command with args, as main does.
func run(args ...string) (string, string, int) {
	g, out, errs := globals()
	root := NewRootCommand(g)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	if err != nil {
		errs.Write([]byte(err.Error()))
	}
	return out.String(), errs.String(), ExitCode(err)
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"version"}, ExitOK, ""},
		{[]string{"bogus"}, ExitUsage, "unknown command"},
		{[]string{"version", "--nope"}, ExitUsage, "unknown flag"},
		{[]string{"certs", "generate"}, ExitUsage, "--out is required"},
		{[]string{"tunnel", "server", "--listen", ":0"}, ExitUsage, "--forward is required"},
		{[]string{"tunnel", "client", "--listen", ":0", "--connect", "h:1", "--certs", "x", "--proxy", "http://u:s3cret@h"}, ExitUsage, "no port"},
		{[]string{"send", "/nonexistent", "h:1/v", "--certs", "x"}, ExitUsage, "not a directory"},
		{[]string{"send", "/", "h1/v", "--certs", "x"}, ExitUsage, "HOST:PORT"},
		{[]string{"--log-level", "loud", "version"}, ExitUsage, "--log-level"},
	}
	for _, tt := range tests {
		out, errs, code := run(tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.msg) {
			t.Errorf("ferry %v: exit %d, stderr %q; want %d and %q", tt.args, code, errs, tt.code, tt.msg)
		}
		if strings.Contains(out+errs, "s3cret") {
			t.Errorf("ferry %v printed a password", tt.args)
		}
	}
}

func TestParseDestination(t *testing.T) {
	for in, want := range map[string]destination{
		"h:443/data":          {Addr: "h:443", Volume: "data"},
		"h:443/data/sub/dir/": {Addr: "h:443", Volume: "data", Subdir: "sub/dir"},
		"[::1]:6443/v":        {Addr: "[::1]:6443", Volume: "v"},
		"10.0.0.1:1/v/x":      {Addr: "10.0.0.1:1", Volume: "v", Subdir: "x"},
	} {
		got, err := parseDestination(in)
		if err != nil || got != want {
			t.Errorf("parseDestination(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"h:443", "h/v", "h:443/", ""} {
		if _, err := parseDestination(bad); err == nil {
			t.Errorf("parseDestination(%q) accepted", bad)
		}
	}
}

func TestCertsGenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	if _, errs, code := run("certs", "generate", "--out", dir, "--server-name", "a.example", "--server-name", "10.1.1.1"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, n := range []string{"ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key"} {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(n, ".key") && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", n, fi.Mode().Perm())
		}
	}
	if _, errs, code := run("certs", "generate", "--out", dir); code != ExitFailure || !strings.Contains(errs, "--force") {
		t.Errorf("overwrite without --force: exit %d %q", code, errs)
	}
}

// ping sends "ping" to addr, half-closes, and returns all that comes back.
func ping(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	c.Write([]byte("ping"))
	c.(*net.TCPConn).CloseWrite()
	got, _ := io.ReadAll(c)
	return string(got)
}

// echoServer listens on 127.0.0.1 until the test ends, echoes what each connection sends
// and closes it when the peer has finished; it returns the address.
func echoServer(t *testing.T) string {
	return testenv.Serve(t, func(c net.Conn) { io.Copy(c, c) })
}

// background runs fn until the test ends and returns the address it reports.
func background(t *testing.T, fn func(ctx context.Context, ready chan<- string) error) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- fn(ctx, ready) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("background command: %v", err)
		}
	})
	select {
	case a := <-ready:
		return a
	case err := <-done:
		t.Fatalf("command ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("command did not start")
	}
	return ""
}

func TestTunnelCommandsThroughSquid(t *testing.T) {
	testenv.Need(t, "squid")
	certsDir := filepath.Join(t.TempDir(), "certs")
	run("certs", "generate", "--out", certsDir)
	sq := testenv.Squid(t, testenv.SquidOptions{Users: map[string]string{"u": "top s3cret:@/"}})
	echo := echoServer(t)
	gs, _, serverLog := globals()
	server := background(t, func(ctx context.Context, ready chan<- string) error {
		return runTunnelServer(ctx, &TunnelOptions{Listen: "127.0.0.1:0", Forward: echo, Certs: certsDir, Grace: time.Second, Ready: ready}, gs)
	})
	gc, _, clientLog := globals()
	client := background(t, func(ctx context.Context, ready chan<- string) error {
		return runTunnelClient(ctx, &TunnelOptions{Listen: "127.0.0.1:0", Connect: server, Certs: certsDir, ServerName: "localhost",
			Proxies: []string{"http://u:top%20s3cret%3A%40%2F@" + sq}, Grace: time.Second, Ready: ready}, gc)
	})
	if got := ping(t, client); got != "ping" {
		t.Fatalf("echo through ferry tunnel client and server: %q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(serverLog.String(), "connection closed") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	logs := clientLog.String() + serverLog.String()
	if !strings.Contains(logs, "connection closed") || !strings.Contains(logs, "sent=4") {
		t.Errorf("no per-connection log line with byte counts:\n%s", logs)
	}
	if strings.Contains(logs, "s3cret") {
		t.Errorf("a log shows the proxy password:\n%s", logs)
	}
}

func TestSendServeJSON(t *testing.T) {
	certsDir := filepath.Join(t.TempDir(), "certs")
	run("certs", "generate", "--out", certsDir)
	src, dst := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(src, "a/b"), 0o750)
	os.WriteFile(filepath.Join(src, "a/b/f"), []byte("data"), 0o640)
	os.WriteFile(filepath.Join(dst, "stale"), []byte("old"), 0o640)
	gs, _, _ := globals()
	addr := background(t, func(ctx context.Context, ready chan<- string) error {
		return runServe(ctx, &ServeOptions{Listen: "127.0.0.1:0", Certs: certsDir, Volumes: []string{"v=" + dst}, Grace: time.Second, Ready: ready}, gs)
	})
	g, out, errs := globals()
	err := runSend(context.Background(), &SendOptions{Certs: certsDir, ServerName: "localhost", JSON: true, Delete: true}, g, []string{src, addr + "/v"})
	if err != nil {
		t.Fatalf("send: %v\n%s", err, errs)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var sum map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("last line is not JSON: %q", lines[len(lines)-1])
	}
	if sum["event"] != "summary" || sum["verified"] != true || sum["files"] != 1.0 || sum["deleted"] != 1.0 {
		t.Errorf("summary %v", sum)
	}
	if out, err := exec.Command("diff", "-r", src, dst).CombinedOutput(); err != nil {
		t.Errorf("trees differ: %s", out)
	}

	// A volume the receiver does not have is a refusal, not retried.
	g2, _, _ := globals()
	err = runSend(context.Background(), &SendOptions{Certs: certsDir, ServerName: "localhost", Retries: 3, Progress: "none"}, g2, []string{src, addr + "/nope"})
	if err == nil || !strings.Contains(err.Error(), `no volume "nope"`) {
		t.Errorf("send to a missing volume: %v", err)
	}
	var ee *exitError
	if errors.As(err, &ee) {
		t.Errorf("a refusal is not a usage error: %v", err)
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "100": 100 << 10, "500KiB": 500 << 10, "20MiB": 20 << 20, "1.5GiB": 3 << 29, "10MB": 10e6} {
		got, err := parseRate(in)
		if err != nil || got != want {
			t.Errorf("parseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"fast", "-1", "10XB"} {
		if _, err := parseRate(bad); err == nil {
			t.Errorf("parseRate(%q) accepted", bad)
		}
	}
}

func TestConfigExplain(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mc.yaml")
	os.WriteFile(p, []byte(`apiVersion: migration.openshift.io/v1alpha1
kind: MigrationController
metadata: {name: migration-controller, namespace: openshift-migration}
spec:
  stunnel_tcp_proxy: http://username:s3cret@10.0.0.5:3128
  httpsProxy: http://api:s3cret@proxy.corp:3128
  noProxy: .svc
`), 0o600)
	out, errs, code := run("config", "explain", "--config", p, "--for", "https://api.example.com:6443")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"spec.stunnel_tcp_proxy", "username:xxxxx@10.0.0.5:3128", "spec.httpsProxy", "For https://api.example.com:6443: http://api:xxxxx@proxy.corp:3128"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	jsonOut, _, _ := run("config", "explain", "--config", p, "-o", "json")
	var doc struct {
		DataProxies []struct{ Value, Source string } `json:"data_proxies"`
	}
	if err := json.Unmarshal([]byte(jsonOut), &doc); err != nil || len(doc.DataProxies) != 1 {
		t.Fatalf("json output %q: %v", jsonOut, err)
	}
	if strings.Contains(out+jsonOut, "s3cret") {
		t.Error("config explain printed a password")
	}
	_, errs, code = run("config", "explain", "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != ExitFailure || !strings.Contains(errs, "missing.yaml") {
		t.Errorf("missing file: exit %d, %q", code, errs)
	}
}
