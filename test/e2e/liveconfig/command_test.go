package liveconfig

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ferrydvm/ferry/internal/config"
	"github.com/ferrydvm/ferry/test/e2e/cluster"
	"github.com/ferrydvm/ferry/test/e2e/env"
)

// liveContext is the kubeconfig context that names the test's API server. The
// kubeconfig's current context is another one, whose server does not answer, so a
// passing run shows that --context was honoured.
const liveContext = "mtc-source"

// otherNamespace holds a second MigrationController, read with -n.
const otherNamespace = "mtc-elsewhere"

// secrets are the passwords of the proxy URLs stored in the cluster, as written; none
// may appear in ferry's output.
var secrets = []string{"username:password@", "cr:pw@", "other:0ther-s3cret@"}

// writeKubeconfig writes a kubeconfig for c with context liveContext, and a current
// context "unreachable" whose server refuses connections.
func writeKubeconfig(t *testing.T, c *cluster.Cluster) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["live"] = &clientcmdapi.Cluster{Server: c.URL, CertificateAuthority: c.CAFile}
	cfg.Clusters["unreachable"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1", InsecureSkipTLSVerify: true}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: c.Token}
	cfg.Contexts[liveContext] = &clientcmdapi.Context{Cluster: "live", AuthInfo: "admin", Namespace: "default"}
	cfg.Contexts["unreachable"] = &clientcmdapi.Context{Cluster: "unreachable", AuthInfo: "admin"}
	cfg.CurrentContext = "unreachable"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatalf("write kubeconfig: %v", err)
	}
	return path
}

// cleanEnv is the test's environment without proxy variables or KUBECONFIG, so that
// ferry's output depends on the cluster alone and ferry reaches the API server directly.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "KUBECONFIG":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// explained is the part of `ferry config explain -o json` the test looks at.
type explained struct {
	HTTPProxy   *config.Value   `json:"http_proxy"`
	HTTPSProxy  *config.Value   `json:"https_proxy"`
	NoProxy     *config.Value   `json:"no_proxy"`
	DataProxies []*config.Value `json:"data_proxies"`
	Cluster     struct {
		Version             string `json:"version"`
		ClusterProxyApplies bool   `json:"cluster_proxy_applies"`
	} `json:"cluster"`
}

// runFerry runs the ferry binary with args and returns its stdout, stderr and exit code.
// It fails the test if ferry shows a stored password.
func runFerry(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, env.Ferry(t), args...)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run ferry %s: %v", strings.Join(args, " "), err)
	}
	for _, s := range secrets {
		if strings.Contains(out.String(), s) || strings.Contains(errOut.String(), s) {
			t.Errorf("ferry %s shows the password in %q:\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), s, out.String(), errOut.String())
		}
	}
	return out.String(), errOut.String(), code
}

// explainJSON runs `ferry config explain -o json` with args and decodes its output.
func explainJSON(t *testing.T, args ...string) explained {
	t.Helper()
	args = append([]string{"config", "explain", "-o", "json"}, args...)
	stdout, stderr, code := runFerry(t, args...)
	if code != 0 {
		t.Fatalf("ferry %s: exit %d\nstderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	var e explained
	if err := json.Unmarshal([]byte(stdout), &e); err != nil {
		t.Fatalf("ferry %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, stdout)
	}
	return e
}

func checkValue(t *testing.T, name string, v *config.Value, value, source string) {
	t.Helper()
	if v == nil {
		t.Errorf("%s: not set, want %s from %s", name, value, source)
		return
	}
	if v.Value != value || !strings.Contains(v.Source, source) {
		t.Errorf("%s = %q from %q, want %q from %q", name, v.Value, v.Source, value, source)
	}
}

// TestConfigExplainCommand runs `ferry config explain --kubeconfig --context` against a
// real API server holding a MigrationController, the cluster Proxy and ClusterVersion.
func TestConfigExplainCommand(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Name: "source"})
	dc, err := dynamic.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	populate(t, c, dc)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: otherNamespace}}
	if _, err := c.Client().CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	create(t, dc, config.MigrationControllers, `apiVersion: migration.openshift.io/v1alpha1
kind: MigrationController
metadata: {name: mc-elsewhere, namespace: `+otherNamespace+`}
spec:
  stunnel_tcp_proxy: http://other:0ther-s3cret@10.0.0.9:3128
`)
	kc := writeKubeconfig(t, c)
	env.Ferry(t) // build before timing the subtests

	t.Run("default namespace", func(t *testing.T) {
		e := explainJSON(t, "--kubeconfig", kc, "--context", liveContext)
		if len(e.DataProxies) != 1 {
			t.Fatalf("data proxies %+v, want the MigrationController's one", e.DataProxies)
		}
		checkValue(t, "data proxy", e.DataProxies[0], "http://username:xxxxx@10.0.0.5:3128", "openshift-migration/migration-controller spec.stunnel_tcp_proxy")
		checkValue(t, "https proxy", e.HTTPSProxy, "http://cr:xxxxx@cr-proxy:3128", "openshift-migration/migration-controller spec.httpsProxy")
		checkValue(t, "http proxy", e.HTTPProxy, "http://status:3128", "Proxy cluster status.httpProxy")
		checkValue(t, "no proxy", e.NoProxy, ".svc,.cluster.local", "Proxy cluster status.noProxy")
		if e.Cluster.Version != "4.12.7" || !e.Cluster.ClusterProxyApplies {
			t.Errorf("cluster %+v, want version 4.12.7 with the cluster Proxy applied", e.Cluster)
		}
	})

	t.Run("other namespace", func(t *testing.T) {
		e := explainJSON(t, "--kubeconfig", kc, "--context", liveContext, "-n", otherNamespace)
		if len(e.DataProxies) != 1 {
			t.Fatalf("data proxies %+v, want the MigrationController's one", e.DataProxies)
		}
		checkValue(t, "data proxy", e.DataProxies[0], "http://other:xxxxx@10.0.0.9:3128", otherNamespace+"/mc-elsewhere spec.stunnel_tcp_proxy")
		// This MigrationController sets no httpsProxy: the cluster Proxy's applies, not
		// the one of the controller in openshift-migration.
		checkValue(t, "https proxy", e.HTTPSProxy, "http://status:3128", "Proxy cluster status.httpsProxy")
	})

	t.Run("unknown context", func(t *testing.T) {
		args := []string{"config", "explain", "-o", "json", "--kubeconfig", kc, "--context", "no-such-context"}
		stdout, stderr, code := runFerry(t, args...)
		if code == 0 {
			t.Fatalf("ferry %s: exit 0, want a failure\nstdout:\n%s", strings.Join(args, " "), stdout)
		}
		if !strings.Contains(stderr, "no-such-context") {
			t.Errorf("ferry %s: exit %d; stderr does not name the context:\n%s", strings.Join(args, " "), code, stderr)
		}
		t.Logf("exit %d: %s", code, strings.TrimSpace(stderr))
	})
}
