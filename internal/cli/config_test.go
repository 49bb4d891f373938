package cli

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferrydvm/ferry/internal/config"
)

// connectProxy is a CONNECT proxy that relays tunnels and records each request line and
// Proxy-Authorization header it was sent.
type connectProxy struct {
	Addr  string
	mu    sync.Mutex
	lines []string
	auths []string
}

func startConnectProxy(t *testing.T) *connectProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &connectProxy{Addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *connectProxy) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.lines = append(p.lines, req.Method+" "+req.RequestURI+" "+req.Proto)
	p.auths = append(p.auths, req.Header.Get("Proxy-Authorization"))
	p.mu.Unlock()
	up, err := net.Dial("tcp", req.RequestURI)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	defer up.Close()
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{})
	go func() {
		io.Copy(up, br)
		up.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, up)
	c.(*net.TCPConn).CloseWrite()
	<-done
}

// requests returns the recorded request lines and Proxy-Authorization values.
func (p *connectProxy) requests() ([]string, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...), append([]string(nil), p.auths...)
}

// checkTunnelled: at least one CONNECT went to target, each with the manifest's credentials.
func (p *connectProxy) checkTunnelled(t *testing.T, target, user, password string) {
	t.Helper()
	lines, auths := p.requests()
	if len(lines) == 0 {
		t.Fatalf("no CONNECT reached the manifest's proxy %s", p.Addr)
	}
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	for i := range lines {
		if lines[i] != "CONNECT "+target+" HTTP/1.1" || auths[i] != wantAuth {
			t.Errorf("request %q with Proxy-Authorization %q, want CONNECT %s with %q", lines[i], auths[i], target, wantAuth)
		}
	}
}

// The password of the proxies in these manifests: it must never be printed.
const (
	manifestUser     = "ferry"
	manifestPassword = "s3cret:@/"
	encodedPassword  = "s3cret%3A%40%2F"
)

func writeManifest(t *testing.T, name, docs string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(docs), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func controllerManifest(fields string) string {
	return "apiVersion: migration.openshift.io/v1alpha1\nkind: MigrationController\n" +
		"metadata: {name: migration-controller, namespace: openshift-migration}\nspec:\n" + fields
}

func stunnelManifest(t *testing.T, proxyAddr string) string {
	return writeManifest(t, "mc.yaml", controllerManifest("  stunnel_tcp_proxy: http://"+manifestUser+":"+encodedPassword+"@"+proxyAddr+"\n"))
}

const clusterManifest = `apiVersion: config.openshift.io/v1
kind: Proxy
metadata: {name: cluster}
status: {httpsProxy: "http://api:s3cret@api-proxy:3128", noProxy: ".svc"}
---
apiVersion: config.openshift.io/v1
kind: ClusterVersion
metadata: {name: version}
status: {desired: {version: "4.14.3"}}
`

func checkNoSecret(t *testing.T, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		if strings.Contains(o, "s3cret") {
			t.Errorf("a password was printed:\n%s", o)
		}
	}
}

// --config on send, tunnel client and probe: the manifest's stunnel_tcp_proxy is the
// proxy that each command dials, with the manifest's credentials.
func TestConfigFlagDialsTheManifestProxy(t *testing.T) {
	certsDir := filepath.Join(t.TempDir(), "certs")
	run("certs", "generate", "--out", certsDir)

	t.Run("send", func(t *testing.T) {
		src, dst := t.TempDir(), t.TempDir()
		os.WriteFile(filepath.Join(src, "f"), []byte("data"), 0o640)
		gs, _, _ := globals()
		addr := background(t, func(ctx context.Context, ready chan<- string) error {
			return runServe(ctx, &ServeOptions{Listen: "127.0.0.1:0", Certs: certsDir, Volumes: []string{"v=" + dst}, Grace: time.Second, Ready: ready}, gs)
		})
		px := startConnectProxy(t)
		// Two files: the controller in one, the cluster's objects in the other.
		files := []string{stunnelManifest(t, px.Addr), writeManifest(t, "cluster.yaml", clusterManifest)}
		g, out, errs := globals()
		err := runSend(context.Background(), &SendOptions{Certs: certsDir, ServerName: "localhost", Config: files, Progress: "none"}, g, []string{src, addr + "/v"})
		if err != nil {
			t.Fatalf("send: %v\n%s", err, errs)
		}
		px.checkTunnelled(t, addr, manifestUser, manifestPassword)
		if out, err := exec.Command("diff", "-r", src, dst).CombinedOutput(); err != nil {
			t.Errorf("trees differ: %s", out)
		}
		checkNoSecret(t, out.String(), errs.String())
	})

	t.Run("tunnel client", func(t *testing.T) {
		echo := echoServer(t)
		gs, _, _ := globals()
		server := background(t, func(ctx context.Context, ready chan<- string) error {
			return runTunnelServer(ctx, &TunnelOptions{Listen: "127.0.0.1:0", Forward: echo, Certs: certsDir, Grace: time.Second, Ready: ready}, gs)
		})
		px := startConnectProxy(t)
		gc, _, clientLog := globals()
		client := background(t, func(ctx context.Context, ready chan<- string) error {
			return runTunnelClient(ctx, &TunnelOptions{Listen: "127.0.0.1:0", Connect: server, Certs: certsDir, ServerName: "localhost",
				Config: []string{stunnelManifest(t, px.Addr)}, Grace: time.Second, Ready: ready}, gc)
		})
		if got := ping(t, client); got != "ping" {
			t.Fatalf("echo through the tunnel: %q\n%s", got, clientLog)
		}
		px.checkTunnelled(t, server, manifestUser, manifestPassword)
		checkNoSecret(t, clientLog.String())
	})

	t.Run("probe", func(t *testing.T) {
		gs, _, _ := globals()
		addr := background(t, func(ctx context.Context, ready chan<- string) error {
			return runServe(ctx, &ServeOptions{Listen: "127.0.0.1:0", Certs: certsDir, Volumes: []string{"v=" + t.TempDir()}, Grace: time.Second, Ready: ready}, gs)
		})
		px := startConnectProxy(t)
		g, out, errs := globals()
		err := runProbe(context.Background(), &ProbeOptions{Connect: addr, Certs: certsDir, ServerName: "localhost", Config: []string{stunnelManifest(t, px.Addr)}, Output: "json"}, g)
		if err != nil {
			t.Fatalf("probe: %v\n%s\n%s", err, out, errs)
		}
		px.checkTunnelled(t, addr, manifestUser, manifestPassword)
		checkNoSecret(t, out.String(), errs.String())
	})
}

// logLines returns the log lines that contain every one of words.
func logLines(log string, words ...string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		all := true
		for _, w := range words {
			all = all && strings.Contains(l, w)
		}
		if all && l != "" {
			out = append(out, l)
		}
	}
	return out
}

// The manifest's settings other than the data path are named in one warning, with the
// flags of ferry send that do the same; --proxy wins over the manifest's proxies.
func TestDataProxiesWarnings(t *testing.T) {
	mc := writeManifest(t, "mc.yaml", controllerManifest(`  stunnel_tcp_proxy: http://u:s3cret@data:3128
  httpsProxy: http://api:s3cret@api:3128
  rsync_opt_bwlimit: 500
  rsync_opt_delete: true
  rsync_backoff_limit: 7
  rsync_opt_extras: "--checksum -z"
  rsync_endpoint_type: NodePort
  target_rsync_pod_cpu_limits: "2"
  mig_pv_limit: "100"
`))
	tests := []struct {
		name  string
		flags []string
		files []string
		want  []string
		warns []string // substrings of warning lines
		quiet bool     // no "not used by this command" line
	}{
		{"manifest only", nil, []string{mc}, []string{"http://u:s3cret@data:3128"}, []string{
			`fields="spec.httpsProxy, spec.rsync_opt_bwlimit, spec.rsync_opt_delete, spec.rsync_backoff_limit, spec.rsync_opt_extras --checksum, spec.rsync_opt_extras -z, spec.rsync_endpoint_type, spec.target_rsync_pod_cpu_limits"`,
			`with_ferry_send_use="--bwlimit 500 --delete --retries 7 --checksum --compress"`,
			"they apply to ferry migrate and the controller",
		}, false},
		{"--proxy wins", []string{"http://flag:3128"}, []string{mc}, []string{"http://flag:3128"}, []string{
			`msg="--proxy wins: the manifest's data-path proxies are not used" not_used=spec.stunnel_tcp_proxy`,
		}, false},
		{"no manifest", []string{"http://flag:3128"}, nil, []string{"http://flag:3128"}, nil, true},
		{"a manifest with the data path only", nil, []string{writeManifest(t, "seed.yaml", controllerManifest("  stunnel_tcp_proxy: http://u:s3cret@data:3128\n"))},
			[]string{"http://u:s3cret@data:3128"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _, errs := globals()
			got, err := dataProxies(context.Background(), g, tt.flags, tt.files)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("proxies %v, want %v", got, tt.want)
			}
			log := errs.String()
			for _, w := range tt.warns {
				if len(logLines(log, "level=WARN", w)) != 1 {
					t.Errorf("no single warning with %s:\n%s", w, log)
				}
			}
			if n := len(logLines(log, "not used by this command")); (n == 0) != tt.quiet || n > 1 {
				t.Errorf("%d lines on settings not used by this command, quiet=%v:\n%s", n, tt.quiet, log)
			}
			if len(tt.files) > 0 && tt.name == "manifest only" && len(logLines(log, "level=WARN", "spec.mig_pv_limit", "does not use it")) != 1 {
				t.Errorf("the unused MTC field is not warned about:\n%s", log)
			}
			checkNoSecret(t, log)
		})
	}
}

func TestConfigExplainTwoFiles(t *testing.T) {
	mc := writeManifest(t, "mc.yaml", controllerManifest("  stunnel_tcp_proxy: http://u:s3cret@10.0.0.5:3128\n  rsync_endpoint_type: NodePort\n  src_supplemental_groups: \"5555\"\n"))
	cluster := writeManifest(t, "cluster.yaml", clusterManifest)
	out, errs, code := run("config", "explain", "--config", mc, "--config", cluster)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		"spec.stunnel_tcp_proxy (" + mc + " document 1)",
		"Proxy cluster (" + cluster + " document 1) status.httpsProxy",
		"OpenShift 4.14",
		"rsync_endpoint_type", "NodePort", "ferry migrate without --endpoint",
		"src_supplemental_groups", "5555", "spec.src_supplemental_groups",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	checkNoSecret(t, out, errs)

	other := writeManifest(t, "other.yaml", controllerManifest("  stunnel_tcp_proxy: http://b:1\n"))
	_, errs, code = run("config", "explain", "--config", mc, "--config", other)
	if code == 0 || !strings.Contains(errs, "two MigrationControllers") || !strings.Contains(errs, mc) || !strings.Contains(errs, other) {
		t.Errorf("two controllers: exit %d, %s", code, errs)
	}
}

func TestConfigExplainJSON(t *testing.T) {
	seed := writeManifest(t, "seed.yaml", controllerManifest("  stunnel_tcp_proxy: http://username:s3cret@10.0.0.5:3128\n"))
	tests := []struct {
		name    string
		args    []string
		wantFor bool
	}{
		{"without --for", nil, false},
		{"with --for", []string{"--for", "https://api.example.com:6443"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := run(append([]string{"config", "explain", "--config", seed, "-o", "json"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var doc map[string]json.RawMessage
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			if got := string(doc["ignored"]); got != "[]" {
				t.Errorf("ignored = %s, want []", got)
			}
			if _, ok := doc["for"]; ok != tt.wantFor {
				t.Errorf("key for present: %v, want %v:\n%s", ok, tt.wantFor, out)
			}
			if tt.wantFor {
				var f map[string]string
				json.Unmarshal(doc["for"], &f)
				if f["url"] != "https://api.example.com:6443" || f["proxy"] != "" || !strings.HasPrefix(f["reason"], "direct") {
					t.Errorf("for = %v", f)
				}
			}
			checkNoSecret(t, out)
		})
	}
}

// What could not be read from the cluster is said in explain's output, text and JSON.
func TestExplainSaysWhatCouldNotBeRead(t *testing.T) {
	e := &config.Effective{DataProxies: []*config.Value{}, Ignored: []config.Ignored{}, Cluster: config.ClusterInfo{
		ClusterProxyApplies: true, Reason: "cluster version unknown",
		Unreadable: []config.Unreadable{{Object: `proxies.config.openshift.io "cluster"`, Reason: "forbidden: treated as absent"}},
	}}
	var text strings.Builder
	writeExplain(&text, e, nil)
	if !strings.Contains(text.String(), `could not read proxies.config.openshift.io "cluster": forbidden: treated as absent`) {
		t.Errorf("text output:\n%s", text.String())
	}
	b, _ := json.Marshal(e)
	if !strings.Contains(string(b), `"unreadable":[{"object":"proxies.config.openshift.io \"cluster\"","reason":"forbidden: treated as absent"}]`) {
		t.Errorf("JSON output: %s", b)
	}
}
