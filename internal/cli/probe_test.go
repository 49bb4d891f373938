package cli

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ferrydvm/ferry/internal/config"
)

// writeKubeconfig writes a kubeconfig for server, with proxyURL as its proxy-url when set.
func writeKubeconfig(t *testing.T, server, proxyURL string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: server, ProxyURL: proxyURL, InsecureSkipTLSVerify: true}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t"}
	cfg.Contexts["ctx"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "ctx"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// proxyFor asks a transport's proxy function where a request to u goes ("" for direct).
func proxyFor(t *testing.T, pick func(*http.Request) (*url.URL, error), u string) string {
	t.Helper()
	if pick == nil {
		return "<client-go default>"
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	p, err := pick(req)
	if err != nil {
		t.Fatal(err)
	}
	if p == nil {
		return ""
	}
	return p.Host
}

// The kubeconfig's proxy-url wins, as for kubectl (client-go sets it and ferry keeps it);
// without one, ferry's selection applies: environment, --config, NO_PROXY.
func TestAPIProxySelection(t *testing.T) {
	const api = "https://api.cluster.example.com:6443"
	tests := []struct {
		name      string
		proxyURL  string // in the kubeconfig
		env       map[string]string
		wantProxy string // host:port a request to api goes through; "" direct
		wantVia   []string
	}{
		{"kubeconfig proxy-url over the environment", "http://kc:s3cret@kube-proxy.example.com:3128",
			map[string]string{"HTTPS_PROXY": "http://env-proxy.example.com:3128"},
			"kube-proxy.example.com:3128", []string{"via http://kc:xxxxx@kube-proxy.example.com:3128 from the kubeconfig's proxy-url"}},
		{"kubeconfig proxy-url over NO_PROXY", "http://kube-proxy.example.com:3128",
			map[string]string{"HTTPS_PROXY": "http://env-proxy.example.com:3128", "NO_PROXY": ".example.com"},
			"kube-proxy.example.com:3128", []string{"kubeconfig's proxy-url"}},
		{"environment", "",
			map[string]string{"HTTPS_PROXY": "http://env:s3cret@env-proxy.example.com:3128"},
			"env-proxy.example.com:3128", []string{"via http://env:xxxxx@env-proxy.example.com:3128", "HTTPS_PROXY"}},
		{"NO_PROXY", "",
			map[string]string{"HTTPS_PROXY": "http://env-proxy.example.com:3128", "NO_PROXY": "cluster.example.com"},
			"", []string{"direct", "NO_PROXY"}},
		{"nothing set", "", map[string]string{}, "", []string{"direct", "no proxy is set"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eff, err := config.Resolve(config.Inputs{Env: tt.env})
			if err != nil {
				t.Fatal(err)
			}
			kc := writeKubeconfig(t, api, tt.proxyURL)

			rc, err := restConfig(kc, "")
			if err != nil {
				t.Fatal(err)
			}
			via, err := useAPIProxy(rc, eff)
			if err != nil {
				t.Fatal(err)
			}
			if got := proxyFor(t, rc.Proxy, api+"/version"); got != tt.wantProxy {
				t.Errorf("ferry probe: a request to %s goes through %q; want %q", api, got, tt.wantProxy)
			}
			mustSay(t, "the report's via", via, tt.wantVia...)
			mustNotSay(t, "the report's via", via, "s3cret")

			// ferry migrate connects to its clusters the same way.
			c, err := cluster(kc, "ctx", apiProxyFunc(eff))
			if err != nil {
				t.Fatal(err)
			}
			if got := proxyFor(t, c.Config.Proxy, api+"/version"); got != tt.wantProxy {
				t.Errorf("ferry migrate: a request to %s goes through %q; want %q", api, got, tt.wantProxy)
			}
		})
	}
}

// -o json keeps the documented shape, every key present (hint empty when there is none);
// with --measure the measure row is there, skipped like the others after a failure.
func TestProbeOutputShape(t *testing.T) {
	certs := filepath.Join(t.TempDir(), "certs")
	run("certs", "generate", "--out", certs)
	dead := closedPort(t)
	out, _, code := run("probe", "--connect", dead, "--certs", certs, "--measure", "-o", "json")
	if code != ExitFailure {
		t.Errorf("exit %d; want %d", code, ExitFailure)
	}
	var doc struct {
		Checks []map[string]any `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var got []string
	for _, c := range doc.Checks {
		if len(c) != 4 || c["name"] == nil || c["status"] == nil || c["detail"] == nil || c["hint"] == nil {
			t.Errorf("check without exactly name, status, detail and hint: %v", c)
		}
		got = append(got, c["name"].(string)+"="+c["status"].(string))
	}
	const want = "proxy-tcp=fail proxy-auth=skip proxy-connect=skip tls-end-to-end=skip server-handshake=skip measure=skip"
	if strings.Join(got, " ") != want {
		t.Errorf("checks %s; want %s", strings.Join(got, " "), want)
	}
	if doc.Checks[0]["hint"] != "nothing listens at that address and port" || doc.Checks[1]["hint"] != "" {
		t.Errorf("hints: %q, %q", doc.Checks[0]["hint"], doc.Checks[1]["hint"])
	}

	text, _, _ := run("probe", "--connect", dead, "--certs", certs, "--measure")
	mustSay(t, "the table", text, "FAIL  proxy-tcp", "hint: nothing listens")
	if !regexp.MustCompile(`(?m)^SKIP +measure +not run: an earlier check failed$`).MatchString(text) {
		t.Errorf("the table has no skipped measure row:\n%s", text)
	}
}

// ferry probe --kubeconfig with a kubeconfig proxy-url reports that proxy, password
// masked, whatever the environment says.
func TestProbeAPIReportsKubeconfigProxy(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://env-proxy.invalid:3128")
	kc := writeKubeconfig(t, "https://api.cluster.invalid:6443", "http://kc:s3cret@127.0.0.1:9")
	out, errs, code := run("probe", "--kubeconfig", kc, "--pod", "ns/p", "-o", "json")
	if code != ExitFailure {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc struct {
		Checks []struct{ Name, Status, Detail, Hint string }
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	c := doc.Checks[0]
	if c.Name != "api-reachable" || c.Status != "fail" {
		t.Fatalf("%+v", doc.Checks)
	}
	mustSay(t, "api-reachable", c.Detail, "via http://kc:xxxxx@127.0.0.1:9 from the kubeconfig's proxy-url", "proxyconnect")
	mustNotSay(t, "the output", out+errs, "s3cret", "env-proxy")
}

func TestProbeAPIUsage(t *testing.T) {
	for _, pod := range []string{"", "p", "ns/", "/p"} {
		_, errs, code := run("probe", "--kubeconfig", "x", "--pod", pod)
		if code != ExitUsage || !strings.Contains(errs, "NAMESPACE/NAME") {
			t.Errorf("--pod %q: exit %d, %q", pod, code, errs)
		}
	}
}
