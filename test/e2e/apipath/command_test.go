package apipath

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ferrydvm/ferry/internal/testenv"
	"github.com/ferrydvm/ferry/test/e2e/cluster"
)

// apiHost is the API server's name in the kubeconfigs of these tests. Only squid's
// namespace resolves it (its /etc/hosts); where ferry runs it does not resolve until the
// NO_PROXY case adds it, so a pass before that proves the request went through squid.
const apiHost = "api.ferry.test"

var ferryBin struct {
	once sync.Once
	path string
	err  error
}

// ferry builds the ferry command from this checkout, once per test binary.
func ferry(t *testing.T) string {
	t.Helper()
	ferryBin.once.Do(func() {
		ferryBin.path, ferryBin.err = cluster.Build("github.com/ferrydvm/ferry/cmd/ferry", "ferry")
	})
	if ferryBin.err != nil {
		t.Fatal(ferryBin.err)
	}
	return ferryBin.path
}

// commandLab: ferry runs in the source namespace, squid in the proxy namespace, and the
// API server (on the test's loopback) is reached at apiHost, a non-loopback address of
// the proxy namespace, through a TCP relay, so that proxy selection applies to it.
type commandLab struct {
	topo      *testenv.Topology
	cluster   *cluster.Cluster
	squid     string // host:port
	apiPort   string
	accessLog string
}

func newCommandLab(t *testing.T, c *cluster.Cluster) *commandLab {
	t.Helper()
	topo := testenv.NewTopology(t)
	l := &commandLab{topo: topo, cluster: c}
	topo.Proxy.AddHost(t, apiHost, topo.ProxySourceIP) // before squid starts: it reads hosts once
	// Names not in /etc/hosts fail at once in the source namespace (nothing answers DNS).
	if err := topo.Source.PutFile("resolv.conf", "nameserver 127.0.0.1\n"); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		t.Fatal(err)
	}
	relayAddr := relay(t, topo.Proxy, topo.ProxySourceIP, u.Host)
	_, l.apiPort, _ = net.SplitHostPort(relayAddr)
	l.squid = testenv.Squid(t, testenv.SquidOptions{Netns: topo.Proxy, Addr: topo.ProxySourceIP, Users: map[string]string{"api": proxyPassword}})
	l.accessLog = squidAccessLog(t, l.squid)
	return l
}

const proxyPassword = "pr0xy p@ss:w/rd"

// proxyURL is squid's URL with the given password, percent-encoded as a user writes it.
func (l *commandLab) proxyURL(password string) string {
	return (&url.URL{Scheme: "http", User: url.UserPassword("api", password), Host: l.squid}).String()
}

// kubeconfig names the API server https://apiHost:PORT (its serving certificate is for
// "kubernetes"), with proxyURL as the cluster's proxy-url when set.
func (l *commandLab) kubeconfig(t *testing.T, proxyURL string) string {
	t.Helper()
	ca, err := os.ReadFile(l.cluster.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://" + net.JoinHostPort(apiHost, l.apiPort),
		CertificateAuthorityData: ca, TLSServerName: "kubernetes", ProxyURL: proxyURL}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: l.cluster.Token}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "admin"}
	cfg.CurrentContext = "c"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

type check struct{ Name, Status, Detail, Hint string }

// probe runs `ferry probe --kubeconfig KC --pod default/db-0 -o json` in the source
// namespace with exactly env as its environment (plus PATH and HOME).
func (l *commandLab) probe(t *testing.T, kubeconfig string, env []string, extra ...string) ([]check, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"probe", "--kubeconfig", kubeconfig, "--pod", "default/db-0", "-o", "json"}, extra...)
	cmd := l.topo.Source.Command(ctx, ferry(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run ferry probe: %v", err)
	}
	var doc struct{ Checks []check }
	if jerr := json.Unmarshal(stdout.Bytes(), &doc); jerr != nil {
		t.Fatalf("ferry probe printed no JSON (%v): %s\nstderr: %s", jerr, stdout.String(), stderr.String())
	}
	for _, c := range doc.Checks {
		t.Logf("%s %s: %s %s", c.Status, c.Name, c.Detail, c.Hint)
	}
	if out := stdout.String() + stderr.String(); strings.Contains(out, "pr0xy") || strings.Contains(out, "wr0ng") {
		t.Errorf("ferry probe printed a proxy password:\n%s", out)
	}
	return doc.Checks, cmd.ProcessState.ExitCode(), stderr.String()
}

func statuses(cs []check) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.Name+"="+c.Status)
	}
	return strings.Join(s, " ")
}

// connects counts squid's CONNECTs to the API server so far.
func (l *commandLab) connects(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(l.accessLog)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), " CONNECT "+net.JoinHostPort(apiHost, l.apiPort)+" ")
}

// probeCommand runs the real `ferry probe --kubeconfig ... --pod ...` command: ferry's own
// proxy selection (environment, --config, NO_PROXY, the kubeconfig's proxy-url) decides
// the path, as it does for a user.
func probeCommand(t *testing.T, c *cluster.Cluster) {
	l := newCommandLab(t, c)
	const allPass = "api-reachable=pass api-auth=pass api-upgrade=pass"
	kc := l.kubeconfig(t, "")
	via := func(t *testing.T, cs []check, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(cs[0].Detail, w) {
				t.Errorf("api-reachable does not say %q: %s", w, cs[0].Detail)
			}
		}
	}
	passes := func(t *testing.T, cs []check, code int, stderr string) {
		t.Helper()
		if code != 0 || statuses(cs) != allPass {
			t.Fatalf("exit %d, %s; want 0, %s\n%s", code, statuses(cs), allPass, stderr)
		}
	}
	masked := "http://api:xxxxx@" + l.squid

	t.Run("HTTPS_PROXY from the environment", func(t *testing.T) {
		before := l.connects(t)
		cs, code, stderr := l.probe(t, kc, []string{"HTTPS_PROXY=" + l.proxyURL(proxyPassword)})
		passes(t, cs, code, stderr)
		via(t, cs, "via "+masked+" from environment HTTPS_PROXY")
		if l.connects(t) <= before {
			t.Errorf("squid's access log shows no CONNECT %s:%s", apiHost, l.apiPort)
		}
	})
	t.Run("wrong password in HTTPS_PROXY", func(t *testing.T) {
		cs, code, _ := l.probe(t, kc, []string{"HTTPS_PROXY=" + l.proxyURL("wr0ng")})
		if code != 1 || statuses(cs) != "api-reachable=fail api-auth=skip api-upgrade=skip" || !strings.Contains(cs[0].Hint, "refused the credentials (407)") {
			t.Fatalf("exit %d, %+v", code, cs)
		}
	})
	t.Run("--config MigrationController", func(t *testing.T) {
		mc := filepath.Join(t.TempDir(), "mc.yaml")
		manifest := fmt.Sprintf(`apiVersion: migration.openshift.io/v1alpha1
kind: MigrationController
metadata: {name: migration-controller, namespace: openshift-migration}
spec:
  httpsProxy: %q
`, l.proxyURL(proxyPassword))
		if err := os.WriteFile(mc, []byte(manifest), 0o600); err != nil {
			t.Fatal(err)
		}
		before := l.connects(t)
		cs, code, stderr := l.probe(t, kc, nil, "--config", mc)
		passes(t, cs, code, stderr)
		via(t, cs, "via "+masked, "spec.httpsProxy")
		if l.connects(t) <= before {
			t.Errorf("squid's access log shows no CONNECT %s:%s", apiHost, l.apiPort)
		}
	})
	t.Run("the kubeconfig's proxy-url wins", func(t *testing.T) {
		closed := fmt.Sprintf("http://%s:%d", l.topo.ProxySourceIP, testenv.FreePort(t, l.topo.Proxy, l.topo.ProxySourceIP))
		before := l.connects(t)
		cs, code, stderr := l.probe(t, l.kubeconfig(t, l.proxyURL(proxyPassword)), []string{"HTTPS_PROXY=" + closed, "NO_PROXY=" + apiHost})
		passes(t, cs, code, stderr)
		via(t, cs, "via "+masked+" from the kubeconfig's proxy-url")
		if l.connects(t) <= before {
			t.Errorf("squid's access log shows no CONNECT %s:%s", apiHost, l.apiPort)
		}
	})
	t.Run("NO_PROXY", func(t *testing.T) {
		env := []string{"HTTPS_PROXY=" + l.proxyURL(proxyPassword), "NO_PROXY=" + apiHost}
		before := l.connects(t)
		// Direct, the name does not resolve here: the passes above went through squid.
		cs, code, _ := l.probe(t, kc, env)
		if code != 1 || cs[0].Status != "fail" {
			t.Fatalf("exit %d, %+v: the API host resolves where ferry runs, so the passes above prove nothing", code, cs)
		}
		via(t, cs, "direct", "NO_PROXY", "lookup "+apiHost)
		// Once it resolves, the direct path passes, and squid sees nothing.
		l.topo.Source.AddHost(t, apiHost, l.topo.ProxySourceIP)
		cs, code, stderr := l.probe(t, kc, env)
		passes(t, cs, code, stderr)
		via(t, cs, "direct: matched by NO_PROXY (environment NO_PROXY)")
		if after := l.connects(t); after != before {
			t.Errorf("squid saw %d CONNECTs to the API server with NO_PROXY covering it", after-before)
		}
	})
}

// relay forwards TCP connections accepted in ns at ip (any port) to target, which is
// reached from the test's own namespace. It returns the address it listens on.
func relay(t *testing.T, ns *testenv.Netns, ip, target string) string {
	t.Helper()
	ln, err := ns.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	track := func(cs ...net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		open = append(open, cs...)
	}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.DialTimeout("tcp", target, 10*time.Second)
			if err != nil {
				in.Close()
				continue
			}
			track(in, out)
			wg.Go(func() { io.Copy(out, in); out.(*net.TCPConn).CloseWrite() })
			wg.Go(func() { io.Copy(in, out); in.(*net.TCPConn).CloseWrite() })
		}
	})
	return ln.Addr().String()
}

// squidAccessLog finds the access log of the squid testenv.Squid started at addr: its
// folder is $TMPDIR/fy<pid>-squid-*, with the squid.conf that listens there.
func squidAccessLog(t *testing.T, addr string) string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), fmt.Sprintf("fy%d-squid-*", os.Getpid())))
	for _, d := range dirs {
		conf, err := os.ReadFile(filepath.Join(d, "squid.conf"))
		if err == nil && strings.Contains(string(conf), "http_port "+addr+"\n") {
			return filepath.Join(d, "access.log")
		}
	}
	t.Fatalf("no squid folder listens at %s among %v (testenv.Squid's layout changed?)", addr, dirs)
	return ""
}
