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

// The rules of reference.md ("Proxy precedence"), written out here apart from Resolve so
// that a reader can check them against the document: for each of HTTP_PROXY, HTTPS_PROXY
// and NO_PROXY, the MigrationController's value, else the environment's, else the
// cluster Proxy's status, else its spec. Clusters older than 4.2 have no cluster-wide
// proxy; without a ClusterVersion the Proxy object applies (it only exists from 4.2).
// The data path never inherits any of them.
var clusterProxyApplies = map[string]bool{"": true, "4.1.34": false, "v3.11.0": false, "4.2.0": true, "4.14.3": true}

// sources says where a setting is written.
type sources struct{ cr, env, status, spec bool }

// expectedWinner is the source whose value is in force: "cr", "env", "status", "spec" or "".
func expectedWinner(s sources, version string) string {
	switch {
	case s.cr:
		return "cr"
	case s.env:
		return "env"
	case !clusterProxyApplies[version]:
		return ""
	case s.status:
		return "status"
	case s.spec:
		return "spec"
	}
	return ""
}

// matrixField is one of the three API proxy settings, with its spellings.
type matrixField struct {
	env, snake, camel string
	get               func(*Effective) *Value
}

var matrixFields = []matrixField{
	{"HTTP_PROXY", "http_proxy", "httpProxy", func(e *Effective) *Value { return e.HTTPProxy }},
	{"HTTPS_PROXY", "https_proxy", "httpsProxy", func(e *Effective) *Value { return e.HTTPSProxy }},
	{"NO_PROXY", "no_proxy", "noProxy", func(e *Effective) *Value { return e.NoProxy }},
}

// value is what source who writes for the field: distinct per source, so the winner shows.
func (f matrixField) value(who string) string {
	if f.env == "NO_PROXY" {
		return who + ".example.com"
	}
	return "http://" + who + ".example.com:3128"
}

// wantSource is the part of Value.Source that names the winner.
func (f matrixField) wantSource(winner, crKey, envKey string) string {
	return map[string]string{
		"cr": "spec." + crKey, "env": "environment " + envKey,
		"status": "status." + f.camel, "spec": "spec." + f.camel + " (no status yet)",
	}[winner]
}

const dataProxy = "http://data.example.com:3128"

// matrixInputs writes the field into each source of s, spelled crKey and envKey.
func matrixInputs(t *testing.T, f matrixField, s sources, version, crKey, envKey string) Inputs {
	t.Helper()
	var docs []string
	if s.cr {
		docs = append(docs, mc(fmt.Sprintf("  %s: %q\n  stunnel_tcp_proxy: %s\n", crKey, f.value("cr"), dataProxy)))
	}
	if s.status || s.spec {
		doc := "apiVersion: config.openshift.io/v1\nkind: Proxy\nmetadata: {name: cluster}\n"
		if s.spec {
			doc += fmt.Sprintf("spec: {%s: %q}\n", f.camel, f.value("spec"))
		}
		if s.status {
			doc += fmt.Sprintf("status: {%s: %q}\n", f.camel, f.value("status"))
		}
		docs = append(docs, doc)
	}
	if version != "" {
		docs = append(docs, clusterVersion(version))
	}
	var in Inputs
	if err := readDocuments("matrix.yaml", []byte(strings.Join(docs, "---\n")), &in); err != nil {
		t.Fatal(err)
	}
	in.Env = map[string]string{}
	if s.env {
		in.Env[envKey] = f.value("env")
	}
	return in
}

func TestPrecedenceMatrix(t *testing.T) {
	sourceSets := []struct {
		name string
		s    sources
	}{
		{"CR only", sources{cr: true}},
		{"env only", sources{env: true}},
		{"Proxy status only", sources{status: true}},
		{"Proxy spec only", sources{spec: true}},
		{"Proxy status and spec", sources{status: true, spec: true}},
		{"CR and env", sources{cr: true, env: true}},
		{"env and Proxy", sources{env: true, status: true, spec: true}},
		{"all three", sources{cr: true, env: true, status: true, spec: true}},
	}
	versions := []string{"", "4.1.34", "v3.11.0", "4.2.0", "4.14.3"}
	for _, version := range versions {
		for _, set := range sourceSets {
			for _, f := range matrixFields {
				for _, crKey := range []string{f.snake, f.camel} {
					for _, envKey := range []string{f.env, strings.ToLower(f.env)} {
						name := fmt.Sprintf("%s/%s/%s/%s,%s", versionName(version), set.name, f.env, crKey, envKey)
						t.Run(name, func(t *testing.T) {
							checkMatrixCase(t, f, set.s, version, crKey, envKey)
						})
					}
				}
			}
		}
	}
}

func versionName(v string) string {
	if v == "" {
		return "no ClusterVersion"
	}
	return "OpenShift " + v
}

func checkMatrixCase(t *testing.T, f matrixField, s sources, version, crKey, envKey string) {
	e, err := Resolve(matrixInputs(t, f, s, version, crKey, envKey))
	if err != nil {
		t.Fatal(err)
	}
	winner := expectedWinner(s, version)
	got := f.get(e)
	switch {
	case winner == "" && got != nil:
		t.Errorf("%s = %q from %s, want unset", f.env, got.Raw(), got.Source)
	case winner != "" && got == nil:
		t.Errorf("%s unset, want %q from %s", f.env, f.value(winner), winner)
	case winner != "" && (got.Raw() != f.value(winner) || !strings.Contains(got.Source, f.wantSource(winner, crKey, envKey))):
		t.Errorf("%s = %q from %s, want %q from %s", f.env, got.Raw(), got.Source, f.value(winner), f.wantSource(winner, crKey, envKey))
	}
	for _, other := range matrixFields {
		if other.env != f.env && other.get(e) != nil {
			t.Errorf("%s set by a source of %s: %+v", other.env, f.env, other.get(e))
		}
	}
	if e.Cluster.ClusterProxyApplies != clusterProxyApplies[version] {
		t.Errorf("cluster proxy applies = %v on %q (%s)", e.Cluster.ClusterProxyApplies, version, e.Cluster.Reason)
	}
	reported := hasIgnored(e, "Proxy cluster") && hasIgnored(e, f.env)
	if wantReported := !clusterProxyApplies[version] && (s.status || s.spec) && !s.cr && !s.env; reported != wantReported {
		t.Errorf("the unused cluster Proxy reported: %v, want %v: %+v", reported, wantReported, e.Ignored)
	}
	checkDataPath(t, e, s.cr)
}

// checkDataPath: the data path holds the CR's stunnel_tcp_proxy and nothing inherited.
func checkDataPath(t *testing.T, e *Effective, fromCR bool) {
	t.Helper()
	var raws []string
	for _, v := range e.DataProxies {
		raws = append(raws, v.Raw())
	}
	want := []string{}
	if fromCR {
		want = []string{dataProxy}
	}
	if strings.Join(raws, " ") != strings.Join(want, " ") {
		t.Errorf("data path %v, want %v", raws, want)
	}
}

func TestEnvironmentSpelling(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"HTTPS_PROXY": "http://up:1", "https_proxy": "http://low:1"}, "environment HTTPS_PROXY"},
		{map[string]string{"HTTPS_PROXY": "", "https_proxy": "http://low:1"}, "environment https_proxy"},
		{map[string]string{"https_proxy": "http://low:1"}, "environment https_proxy"},
	} {
		e, err := Resolve(Inputs{Env: tt.env})
		if err != nil {
			t.Fatal(err)
		}
		if e.HTTPSProxy == nil || e.HTTPSProxy.Source != tt.want {
			t.Errorf("%v: https proxy %+v, want from %s", tt.env, e.HTTPSProxy, tt.want)
		}
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
