package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The manifest from the MTC documentation, with real values.
const seedManifest = `apiVersion: migration.openshift.io/v1alpha1
kind: MigrationController
metadata:
  name: migration-controller
  namespace: openshift-migration
spec:
  stunnel_tcp_proxy: http://username:password@10.0.0.5:3128
`

func readString(t *testing.T, docs string) Inputs {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mc.yaml")
	os.WriteFile(p, []byte(docs), 0o600)
	var in Inputs
	if err := ReadFiles([]string{p}, &in); err != nil {
		t.Fatal(err)
	}
	return in
}

func TestSeedManifest(t *testing.T) {
	e, err := Resolve(readString(t, seedManifest))
	if err != nil {
		t.Fatal(err)
	}
	if len(e.DataProxies) != 1 || e.DataProxies[0].Raw() != "http://username:password@10.0.0.5:3128" {
		t.Fatalf("data proxies %+v", e.DataProxies)
	}
	if e.DataProxies[0].Value != "http://username:xxxxx@10.0.0.5:3128" || !strings.Contains(e.DataProxies[0].Source, "openshift-migration/migration-controller spec.stunnel_tcp_proxy") {
		t.Errorf("shown as %+v", e.DataProxies[0])
	}
	if e.HTTPSProxy != nil {
		t.Errorf("the data-path proxy leaked into the API proxies: %+v", e.HTTPSProxy)
	}
}

func mc(fields string) string {
	return "apiVersion: migration.openshift.io/v1alpha1\nkind: MigrationController\nmetadata: {name: migration-controller, namespace: openshift-migration}\nspec:\n" + fields
}

const clusterProxy = `apiVersion: config.openshift.io/v1
kind: Proxy
metadata: {name: cluster}
spec: {httpsProxy: "http://spec-proxy:3128"}
status: {httpsProxy: "http://status-proxy:3128", noProxy: ".cluster.local,10.0.0.0/16"}
`

func clusterVersion(v string) string {
	return fmt.Sprintf("apiVersion: config.openshift.io/v1\nkind: ClusterVersion\nmetadata: {name: version}\nstatus: {desired: {version: %q}}\n", v)
}

func TestPrecedenceMatrix(t *testing.T) {
	type want struct{ https, source string }
	tests := []struct {
		name string
		docs []string
		env  map[string]string
		want want
	}{
		{"CR snake wins over all", []string{mc("  https_proxy: http://cr:1\n"), clusterProxy, clusterVersion("4.14.3")}, map[string]string{"HTTPS_PROXY": "http://env:1"}, want{"http://cr:1", "spec.https_proxy"}},
		{"CR camel wins over all", []string{mc("  httpsProxy: http://cr:1\n"), clusterProxy, clusterVersion("4.2.0")}, map[string]string{"https_proxy": "http://env:1"}, want{"http://cr:1", "spec.httpsProxy"}},
		{"env upper over cluster", []string{mc("  stunnel_tcp_proxy: http://d:1\n"), clusterProxy, clusterVersion("4.14.3")}, map[string]string{"HTTPS_PROXY": "http://env:1"}, want{"http://env:1", "environment HTTPS_PROXY"}},
		{"env lower over cluster", []string{clusterProxy}, map[string]string{"https_proxy": "http://env:1"}, want{"http://env:1", "environment https_proxy"}},
		{"env upper before lower", nil, map[string]string{"HTTPS_PROXY": "http://up:1", "https_proxy": "http://low:1"}, want{"http://up:1", "environment HTTPS_PROXY"}},
		{"cluster status on 4.2", []string{clusterProxy, clusterVersion("4.2.16")}, nil, want{"http://status-proxy:3128", "status.httpsProxy"}},
		{"cluster status on 4.14", []string{clusterProxy, clusterVersion("4.14.0")}, nil, want{"http://status-proxy:3128", "status.httpsProxy"}},
		{"cluster status, version unknown", []string{clusterProxy}, nil, want{"http://status-proxy:3128", "status.httpsProxy"}},
		{"cluster spec when no status", []string{strings.Replace(clusterProxy, "status: {httpsProxy: \"http://status-proxy:3128\", noProxy: \".cluster.local,10.0.0.0/16\"}", "", 1)}, nil, want{"http://spec-proxy:3128", "spec.httpsProxy (no status yet)"}},
		{"no cluster proxy on 4.1", []string{clusterProxy, clusterVersion("4.1.34")}, nil, want{"", ""}},
		{"no cluster proxy on 3.11", []string{clusterProxy, clusterVersion("v3.11.0")}, nil, want{"", ""}},
		{"4.1 takes the CR", []string{mc("  https_proxy: http://cr:1\n"), clusterProxy, clusterVersion("4.1.0")}, nil, want{"http://cr:1", "spec.https_proxy"}},
		{"4.1 takes the environment", []string{clusterProxy, clusterVersion("4.1.0")}, map[string]string{"HTTPS_PROXY": "http://env:1"}, want{"http://env:1", "environment HTTPS_PROXY"}},
		{"nothing anywhere", nil, nil, want{"", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := readString(t, strings.Join(tt.docs, "---\n"))
			in.Env = tt.env
			e, err := Resolve(in)
			if err != nil {
				t.Fatal(err)
			}
			got := want{}
			if e.HTTPSProxy != nil {
				got = want{e.HTTPSProxy.Raw(), e.HTTPSProxy.Source}
			}
			if got.https != tt.want.https || !strings.Contains(got.source, tt.want.source) {
				t.Fatalf("https proxy %+v, want %+v", got, tt.want)
			}
			if old := clusterVersionIn(tt.docs); old == "4.1.34" || old == "v3.11.0" || old == "4.1.0" {
				if e.Cluster.ClusterProxyApplies || !strings.Contains(e.Cluster.Reason, "no cluster-wide proxy") {
					t.Errorf("cluster info %+v", e.Cluster)
				}
				if !hasIgnored(e, "Proxy cluster") {
					t.Errorf("the unused cluster proxy is not reported: %+v", e.Ignored)
				}
			}
			if len(e.DataProxies) > 0 && e.DataProxies[0].Raw() == got.https {
				t.Error("data path inherited an API proxy")
			}
		})
	}
}

func TestDataPathNeverInherits(t *testing.T) {
	in := readString(t, mc("  https_proxy: http://api:1\n  http_proxy: http://api:2\n")+"---\n"+clusterProxy)
	in.Env = map[string]string{"HTTPS_PROXY": "http://env:1"}
	e, err := Resolve(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.DataProxies) != 0 {
		t.Fatalf("data proxies inherited: %+v", e.DataProxies)
	}
}

func TestChain(t *testing.T) {
	e, err := Resolve(readString(t, mc("  ferry_tcp_proxy_chain:\n  - http://a:1\n  - http://u:p%40ss@b:2\n")))
	if err != nil {
		t.Fatal(err)
	}
	if len(e.DataProxies) != 2 || e.DataProxies[1].Value != "http://u:xxxxx@b:2" || !strings.Contains(e.DataProxies[1].Source, "ferry_tcp_proxy_chain[1]") {
		t.Fatalf("%+v", e.DataProxies)
	}
	_, err = Resolve(readString(t, mc("  stunnel_tcp_proxy: http://x:1\n  ferry_tcp_proxy_chain: [\"http://a:1\"]\n")))
	if err == nil || !strings.Contains(err.Error(), "disagree") {
		t.Fatalf("conflict: %v", err)
	}
}

func TestValidationNamesTheField(t *testing.T) {
	tests := []struct{ fields, want string }{
		{"  stunnel_tcp_proxy: socks5://u:s3cret@h:1\n", "spec.stunnel_tcp_proxy"},
		{"  stunnel_tcp_proxy: http://u:s3cret@h\n", "no port"},
		{"  httpsProxy: http://u:s3cret@h\n", "spec.httpsProxy"},
		{"  noProxy: \"ok.example.com,10.0.0.0/33\"\n", `noProxy entry "10.0.0.0/33"`},
		{"  no_proxy: \"a b\"\n", "white space"},
		{"  no_proxy: \"host:99999\"\n", "port"},
		{"  rsync_opt_bwlimit: fast\n", "spec.rsync_opt_bwlimit: want an integer"},
		{"  rsync_opt_delete: maybe\n", "spec.rsync_opt_delete: want true or false"},
		{"  https_proxy: http://a:1\n  httpsProxy: http://b:1\n", "same setting"},
	}
	for _, tt := range tests {
		p := filepath.Join(t.TempDir(), "mc.yaml")
		os.WriteFile(p, []byte(mc(tt.fields)), 0o600)
		var in Inputs
		err := ReadFiles([]string{p}, &in)
		if err == nil {
			_, err = Resolve(in)
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.fields, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: the error shows the password: %v", tt.fields, err)
		}
	}
}

func TestOptionsAndIgnoredFields(t *testing.T) {
	e, err := Resolve(readString(t, mc(`  rsync_opt_bwlimit: "500"
  rsync_opt_delete: false
  rsync_backoff_limit: 7
  rsync_opt_hardlinks: true
  rsync_opt_extras: "--checksum -X --inplace"
  mig_pv_limit: "100"
  stunel_tcp_proxy: http://typo:1
`)+"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{"bwlimit": "500", "delete": "false", "retries": "7", "checksum": "true"} {
		if v := e.Transfer[flag]; v == nil || v.Value != want {
			t.Errorf("transfer %s = %+v, want %s", flag, v, want)
		}
	}
	for _, f := range []string{"spec.mig_pv_limit", "spec.stunel_tcp_proxy", "spec.rsync_opt_hardlinks", "--inplace", "-X", "document 2"} {
		if !hasIgnored(e, f) {
			t.Errorf("%s is not reported as ignored: %+v", f, e.Ignored)
		}
	}
	for _, ig := range e.Ignored {
		if ig.Field == "spec.stunel_tcp_proxy" && !strings.Contains(ig.Reason, "misspelt") {
			t.Errorf("a typo is not called one: %+v", ig)
		}
	}
}

func clusterVersionIn(docs []string) string {
	for _, d := range docs {
		if i := strings.Index(d, "version: \""); i >= 0 {
			rest := d[i+len("version: \""):]
			return rest[:strings.IndexByte(rest, '"')]
		}
	}
	return ""
}

func hasIgnored(e *Effective, field string) bool {
	for _, ig := range e.Ignored {
		if strings.Contains(ig.Field, field) {
			return true
		}
	}
	return false
}

func TestProxyFor(t *testing.T) {
	in := readString(t, mc("  https_proxy: http://u:pw@api-proxy:3128\n  no_proxy: \".svc,10.0.0.0/8,internal.example.com:6443\"\n"))
	e, err := Resolve(in)
	if err != nil {
		t.Fatal(err)
	}
	for url, want := range map[string]string{
		"https://api.other.example.com:6443": "http://u:xxxxx@api-proxy:3128",
		"https://kubernetes.default.svc":     "direct",
		"https://10.1.2.3:6443":              "direct",
		"https://internal.example.com:6443":  "direct",
		"https://internal.example.com:443":   "http://u:xxxxx@api-proxy:3128",
		"http://plain.example.com":           "direct",
	} {
		p, reason, err := e.ProxyFor(url)
		if err != nil {
			t.Fatal(err)
		}
		if (want == "direct" && p != "") || (want != "direct" && p != want) {
			t.Errorf("ProxyFor(%s) = %q (%s), want %s", url, p, reason, want)
		}
	}
}

func FuzzCheckNoProxy(f *testing.F) {
	f.Add(".cluster.local,10.0.0.0/16,*,host:443,[::1]:80")
	f.Fuzz(func(t *testing.T, s string) {
		if CheckNoProxy(s) == nil && strings.ContainsAny(s, " \t") && strings.TrimSpace(strings.ReplaceAll(s, ",", "")) != "" {
			for _, e := range strings.Split(s, ",") {
				if strings.ContainsAny(strings.TrimSpace(e), " \t") {
					t.Fatalf("accepted an entry with white space: %q", e)
				}
			}
		}
	})
}

func FuzzDecodeController(f *testing.F) {
	f.Add(seedManifest)
	f.Add(mc("  rsync_opt_bwlimit: [1]\n  httpProxy: {a: b}\n"))
	f.Fuzz(func(t *testing.T, doc string) {
		var in Inputs
		if readDocuments("fuzz", []byte(doc), &in) != nil {
			return
		}
		Resolve(in) // must not panic
	})
}
