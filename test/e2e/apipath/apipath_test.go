// Package apipath tests ferry's API-path probe against a real kube-apiserver: directly,
// behind nginx fronts that pass or drop the Upgrade header or answer exec themselves,
// through squid as HTTPS_PROXY, and as the real `ferry probe --kubeconfig` command whose
// own proxy selection (environment, --config, NO_PROXY, a kubeconfig's proxy-url) decides.
package apipath

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/ferrydvm/ferry/internal/config"
	"github.com/ferrydvm/ferry/internal/pki"
	"github.com/ferrydvm/ferry/internal/probe"
	"github.com/ferrydvm/ferry/internal/testenv"
	"github.com/ferrydvm/ferry/test/e2e/cluster"
)

// podOnDeadNode makes a pod bound to a Node whose kubelet port is closed: exec reaches the
// API server's upgrade check and then fails to reach the (absent) kubelet.
func podOnDeadNode(t *testing.T, c *cluster.Cluster) {
	ctx := context.Background()
	cs := c.Client()
	port := testenv.FreePort(t, nil, "127.0.0.1")
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "dead-node"}}
	node, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	no := false
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "dead-node", AutomountServiceAccountToken: &no,
			Containers: []corev1.Container{{Name: "db", Image: "ferry"}}},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, rc *rest.Config, via string) *probe.Report {
	t.Helper()
	r := probe.APIPath(context.Background(), probe.APITarget{Config: rc, Via: via, Namespace: "default", Pod: "db-0"})
	for _, c := range r.Checks {
		t.Logf("%s %s: %s %s", c.Status, c.Name, c.Detail, c.Hint)
	}
	return r
}

func status(r *probe.Report) string {
	var s []string
	for _, c := range r.Checks {
		s = append(s, c.Name+"="+c.Status)
	}
	return strings.Join(s, " ")
}

// front runs nginx before the API server with a certificate of its own; o says how it
// forwards (Upstream and the certificate are filled in).
func front(t *testing.T, c *cluster.Cluster, o testenv.NginxOptions) *rest.Config {
	set, err := pki.Generate(pki.Options{ServerNames: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "front")
	if err := set.Write(dir, false); err != nil {
		t.Fatal(err)
	}
	o.Upstream, o.CertFile, o.KeyFile = c.URL, filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	addr := testenv.Nginx(t, o)
	rc := rest.CopyConfig(c.RESTConfig())
	rc.Host = "https://" + addr
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	rc.TLSClientConfig = rest.TLSClientConfig{CAData: ca}
	return rc
}

// frontRefusingExec runs nginx as a TLS front of the API server that passes every request
// (with its Upgrade header) except exec, which it answers itself with status: the HTML
// page a proxy or load balancer shows when a rule blocks a path.
func frontRefusingExec(t *testing.T, c *cluster.Cluster, status int) *rest.Config {
	t.Helper()
	return front(t, c, testenv.NginxOptions{PassUpgrade: true, Locations: fmt.Sprintf("location ~ /exec$ { return %d; }", status)})
}

func TestAPIPath(t *testing.T) {
	testenv.Root(t)
	c := cluster.Start(t, cluster.Options{Name: "source"})
	podOnDeadNode(t, c)
	const allPass = "api-reachable=pass api-auth=pass api-upgrade=pass"

	t.Run("direct", func(t *testing.T) {
		r := run(t, c.RESTConfig(), "direct")
		if status(r) != allPass {
			t.Fatalf("%s", status(r))
		}
		// Both protocols reach the API server. It upgrades WebSocket itself (it translates
		// to SPDY towards the kubelet) and answers SPDY with its failure to dial the dead
		// node's kubelet.
		for _, want := range []string{"WebSocket: 101 Switching Protocols", "SPDY: the upgrade reached the API server", "from beyond it (error dialing backend"} {
			if !strings.Contains(r.Checks[2].Detail, want) {
				t.Errorf("api-upgrade detail lacks %q: %s", want, r.Checks[2].Detail)
			}
		}
	})
	t.Run("nginx passing Upgrade", func(t *testing.T) {
		if r := run(t, front(t, c, testenv.NginxOptions{PassUpgrade: true}), "direct"); status(r) != allPass {
			t.Fatalf("%s", status(r))
		}
	})
	t.Run("nginx dropping Upgrade", func(t *testing.T) {
		r := run(t, front(t, c, testenv.NginxOptions{}), "direct")
		if status(r) != "api-reachable=pass api-auth=pass api-upgrade=fail" {
			t.Fatalf("%s", status(r))
		}
		f := r.FirstFailure()
		for _, want := range []string{"WebSocket: 400 Upgrade request required", "SPDY: 400 Upgrade request required"} {
			if !strings.Contains(f.Detail, want) {
				t.Errorf("detail lacks %q: %s", want, f.Detail)
			}
		}
		for _, want := range []string{"drops the Upgrade and Connection headers", "exec, attach, port-forward", "ferry needs none of them", "NO_PROXY"} {
			if !strings.Contains(f.Hint, want) {
				t.Errorf("hint lacks %q: %s", want, f.Hint)
			}
		}
	})
	for _, code := range []int{403, 502} {
		t.Run(fmt.Sprintf("nginx answering exec with %d", code), func(t *testing.T) {
			r := run(t, frontRefusingExec(t, c, code), "direct")
			if status(r) != "api-reachable=pass api-auth=pass api-upgrade=fail" {
				t.Fatalf("%s", status(r))
			}
			f := r.FirstFailure()
			for _, want := range []string{fmt.Sprintf("WebSocket: %d", code), fmt.Sprintf("SPDY: %d", code), "from nginx", "not from the API server", "text/html"} {
				if !strings.Contains(f.Detail, want) {
					t.Errorf("detail lacks %q: %s", want, f.Detail)
				}
			}
			if !strings.Contains(f.Hint, "between here and the API server") || !strings.Contains(f.Hint, "NO_PROXY") {
				t.Errorf("hint: %s", f.Hint)
			}
		})
	}
	t.Run("ferry probe command", func(t *testing.T) { probeCommand(t, c) })
	t.Run("squid as HTTPS_PROXY", func(t *testing.T) {
		sq := testenv.Squid(t, testenv.SquidOptions{Users: map[string]string{"api": "pr0xy pass"}})
		e, err := config.Resolve(config.Inputs{Env: map[string]string{"HTTPS_PROXY": "http://api:pr0xy%20pass@" + sq}})
		if err != nil {
			t.Fatal(err)
		}
		// The API server listens on loopback, which proxy selection (rightly) never sends to a
		// proxy; so the test takes the resolved proxy and uses it for every request.
		proxyURL, err := url.Parse(e.HTTPSProxy.Raw())
		if err != nil {
			t.Fatal(err)
		}
		rc := rest.CopyConfig(c.RESTConfig())
		var used []string
		rc.Proxy = func(req *http.Request) (*url.URL, error) {
			used = append(used, proxyURL.Host)
			return proxyURL, nil
		}
		r := run(t, rc, "via "+e.HTTPSProxy.Value+" from "+e.HTTPSProxy.Source)
		if status(r) != allPass {
			t.Fatalf("%s", status(r))
		}
		if len(used) == 0 || used[0] != sq {
			t.Fatalf("requests did not go through squid: %v", used)
		}
		if strings.Contains(r.Checks[0].Detail, "pr0xy") {
			t.Error("the report shows the proxy password")
		}
		// A wrong password is an api-reachable failure that names the proxy.
		bad, _ := url.Parse("http://api:wrong@" + sq)
		rc.Proxy = http.ProxyURL(bad)
		r = run(t, rc, "via squid")
		if r.Checks[0].Status != probe.Fail || !strings.Contains(r.Checks[0].Hint, "refused the credentials (407)") {
			t.Fatalf("%s: %+v", status(r), r.Checks[0])
		}
	})
}
