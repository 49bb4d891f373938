package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ferrydvm/ferry/api/v1alpha1"
)

// effectiveSummary is the raw value of each proxy setting ("" when unset), the data path
// joined by spaces.
func effectiveSummary(e *Effective) map[string]string {
	raw := func(v *Value) string {
		if v == nil {
			return ""
		}
		return v.Raw()
	}
	var data []string
	for _, v := range e.DataProxies {
		data = append(data, v.Raw())
	}
	return map[string]string{"http": raw(e.HTTPProxy), "https": raw(e.HTTPSProxy), "no": raw(e.NoProxy), "data": strings.Join(data, " ")}
}

// MTC's operator templates write every proxy field, "" when not set: that must read as
// unset, the same way for every field and every source.
func TestEmptyIsUnset(t *testing.T) {
	const statusOnly = "---\napiVersion: config.openshift.io/v1\nkind: Proxy\nmetadata: {name: cluster}\nstatus: {noProxy: .status}\n"
	tests := []struct {
		name string
		docs string
		env  map[string]string
		want map[string]string
	}{
		{"MTC's template defaults", mc("  http_proxy: \"\"\n  https_proxy: \"\"\n  no_proxy: \"\"\n  stunnel_tcp_proxy: \"\"\n  cluster_subdomain: \"\"\n"), nil,
			map[string]string{}},
		{"https_proxy empty: the environment's", mc("  https_proxy: \"\"\n"), map[string]string{"HTTPS_PROXY": "http://env:1"},
			map[string]string{"https": "http://env:1"}},
		{"httpsProxy empty: the environment's", mc("  httpsProxy: \"\"\n"), map[string]string{"HTTPS_PROXY": "http://env:1"},
			map[string]string{"https": "http://env:1"}},
		{"http_proxy blank: the environment's", mc("  http_proxy: \"  \"\n"), map[string]string{"http_proxy": "http://env:1"},
			map[string]string{"http": "http://env:1"}},
		{"no_proxy empty: the environment's", mc("  no_proxy: \"\"\n"), map[string]string{"NO_PROXY": ".env"},
			map[string]string{"no": ".env"}},
		{"noProxy empty: the cluster's", mc("  noProxy: \"\"\n") + statusOnly, nil,
			map[string]string{"no": ".status"}},
		{"NO_PROXY empty: the cluster's", statusOnly, map[string]string{"NO_PROXY": ""},
			map[string]string{"no": ".status"}},
		{"HTTPS_PROXY empty: the lower-case one", "", map[string]string{"HTTPS_PROXY": "", "https_proxy": "http://low:1"},
			map[string]string{"https": "http://low:1"}},
		{"cluster status empty: its spec", "apiVersion: config.openshift.io/v1\nkind: Proxy\nmetadata: {name: cluster}\nspec: {httpsProxy: \"http://spec:1\"}\nstatus: {httpsProxy: \"\"}\n", nil,
			map[string]string{"https": "http://spec:1"}},
		{"stunnel_tcp_proxy empty: direct", mc("  stunnel_tcp_proxy: \"\"\n"), nil, map[string]string{}},
		{"empty chain: stunnel_tcp_proxy", mc("  stunnel_tcp_proxy: http://a:1\n  ferry_tcp_proxy_chain: []\n"), nil,
			map[string]string{"data": "http://a:1"}},
		{"chain of empty entries: stunnel_tcp_proxy", mc("  stunnel_tcp_proxy: http://a:1\n  ferry_tcp_proxy_chain: [\"\", \"\"]\n"), nil,
			map[string]string{"data": "http://a:1"}},
		{"stunnel_tcp_proxy empty beside a chain", mc("  stunnel_tcp_proxy: \"\"\n  ferry_tcp_proxy_chain: [\"http://a:1\", \"http://b:2\"]\n"), nil,
			map[string]string{"data": "http://a:1 http://b:2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := readString(t, tt.docs)
			in.Env = tt.env
			e, err := Resolve(in)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"http": "", "https": "", "no": "", "data": ""}
			for k, v := range tt.want {
				want[k] = v
			}
			if got := effectiveSummary(e); !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
			if len(e.Migration) != 0 {
				t.Errorf("empty fields shown as settings: %v", e.Migration)
			}
		})
	}
}

func TestEmptyChainEntryAmongOthers(t *testing.T) {
	_, err := Resolve(readString(t, mc("  ferry_tcp_proxy_chain: [\"http://a:1\", \"\"]\n")))
	if err == nil || !strings.Contains(err.Error(), "spec.ferry_tcp_proxy_chain[1] (") || !strings.Contains(err.Error(), "): empty") {
		t.Fatalf("error %v, want one naming the empty entry", err)
	}
}

// A cluster Proxy's status is used field by field, its spec for a field the status lacks:
// the label says which, and why.
func TestClusterSpecLabel(t *testing.T) {
	for _, tt := range []struct {
		name, status, want string
	}{
		{"no status", "", "spec.noProxy (no status yet)"},
		{"status without noProxy", "status: {httpsProxy: \"http://status:1\"}\n", "spec.noProxy (status has no noProxy)"},
	} {
		in := readString(t, "apiVersion: config.openshift.io/v1\nkind: Proxy\nmetadata: {name: cluster}\nspec: {noProxy: .corp}\n"+tt.status)
		e, err := Resolve(in)
		if err != nil {
			t.Fatal(err)
		}
		if e.NoProxy == nil || !strings.HasPrefix(e.NoProxy.Source, "Proxy cluster") || !strings.HasSuffix(e.NoProxy.Source, tt.want) {
			t.Errorf("%s: no proxy %+v, want from %s", tt.name, e.NoProxy, tt.want)
		}
	}
}

// Fields of mig-operator's MigrationController defaults are MTC settings, not typos.
func TestMTCFieldsAreNotTypos(t *testing.T) {
	fields := []string{
		"migration_log_reader", "stunnel_verify_ca", "stunnel_verify_ca_level", "proxy_secret_name",
		"enable_intelligent_pv_resize", "mig_controller_enable_cache", "restic_supplemental_groups", "image_pull_policy",
		"pv_resizing_threshold", "exposed_registry_validation_path", "velero_state", "noobaa", "jaeger_enabled",
		"mig_ui_oauth_secret", "hook_runner_image_fqin", "rsync_transfer_repo", "disable_image_copy",
	}
	var spec strings.Builder
	for _, f := range fields {
		spec.WriteString("  " + f + ": \"x\"\n")
	}
	spec.WriteString("  stunnel_tcp_proxi: http://typo:1\n")
	e, err := Resolve(readString(t, mc(spec.String())))
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, ig := range e.Ignored {
		reasons[strings.TrimPrefix(ig.Field, "spec.")] = ig.Reason
	}
	for _, f := range fields {
		if r := reasons[f]; !strings.HasPrefix(r, "an MTC setting") || strings.Contains(r, "misspelt") {
			t.Errorf("%s: reason %q, want an MTC setting ferry does not use", f, r)
		}
	}
	if r := reasons["stunnel_verify_ca"]; !strings.Contains(r, "always verifies") || !strings.Contains(r, "cannot turn verification off") {
		t.Errorf("stunnel_verify_ca: %q does not say that verification stays on", r)
	}
	if r := reasons["stunnel_tcp_proxi"]; !strings.Contains(r, "misspelt") {
		t.Errorf("a typo is not called one: %q", r)
	}
}

func TestMigrationSettingsExplained(t *testing.T) {
	values := map[string]string{
		"rsync_endpoint_type": "NodePort", "cluster_subdomain": "apps.example.com",
		"source_rsync_pod_cpu_requests": "100m", "source_rsync_pod_memory_requests": "1Gi",
		"source_rsync_pod_cpu_limits": "1", "source_rsync_pod_memory_limits": "2Gi",
		"target_rsync_pod_cpu_requests": "200m", "target_rsync_pod_memory_requests": "512Mi",
		"target_rsync_pod_cpu_limits": "2", "target_rsync_pod_memory_limits": "3Gi",
		"src_supplemental_groups": "5555,6666", "target_supplemental_groups": "7777",
		"migration_rsync_privileged": "false", "migration_rsync_super_privileged": "true",
	}
	if len(values) != len(MigrationFields) {
		t.Fatalf("the test covers %d fields, MigrationFields has %d", len(values), len(MigrationFields))
	}
	var spec strings.Builder
	for f, v := range values {
		spec.WriteString("  " + f + ": \"" + v + "\"\n")
	}
	e, err := Resolve(readString(t, mc(spec.String())))
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range values {
		v := e.Migration[f]
		if v == nil || v.Value != want || !strings.Contains(v.Source, "migration-controller spec."+f+" (") || v.Field() != "spec."+f {
			t.Errorf("%s = %+v, want %q from spec.%s", f, v, want, f)
		}
	}
	if n := e.Migration["rsync_endpoint_type"].Note; !strings.Contains(n, "ferry migrate without --endpoint") {
		t.Errorf("endpoint note %q", n)
	}
	if n := e.Migration["migration_rsync_super_privileged"].Note; !strings.Contains(n, "privileged") {
		t.Errorf("super-privileged note %q", n)
	}
	e, _ = Resolve(readString(t, mc("  rsync_endpoint_type: ClusterIP\n")))
	if n := e.Migration["rsync_endpoint_type"].Note; !strings.Contains(n, "not an endpoint ferry has") {
		t.Errorf("ClusterIP note %q", n)
	}
}

// Every field the spec types is either shown as a setting or reported as not used: a
// typed field is never dropped silently (adding one to v1alpha1 without surfacing it here
// fails this test).
func TestEveryTypedFieldIsShownOrReported(t *testing.T) {
	sample := func(field string, ptr any) string {
		switch ptr.(type) {
		case **bool:
			return "true"
		case **int64:
			return "5"
		case *[]string:
			return "[\"http://chain:1\"]"
		}
		switch field {
		case "http_proxy", "https_proxy", "stunnel_tcp_proxy":
			return "http://h:1"
		case "no_proxy":
			return ".svc"
		}
		return "\"1\""
	}
	for field, ptr := range specFields(&v1alpha1.MigrationControllerSpec{}) {
		e, err := Resolve(readString(t, mc("  "+field+": "+sample(field, ptr)+"\n")))
		if err != nil {
			t.Errorf("%s: %v", field, err)
			continue
		}
		if !slices.ContainsFunc(shownFields(e), func(f string) bool { return strings.HasPrefix(f, "spec."+field) }) && !hasIgnored(e, "spec."+field) {
			t.Errorf("spec.%s is neither shown nor reported: %+v", field, e)
		}
	}
}

func shownFields(e *Effective) []string {
	var out []string
	for _, v := range []*Value{e.HTTPProxy, e.HTTPSProxy, e.NoProxy} {
		if v != nil {
			out = append(out, v.Field())
		}
	}
	for _, vs := range [][]*Value{e.DataProxies, slices.Collect(mapValues(e.Transfer)), slices.Collect(mapValues(e.Migration))} {
		for _, v := range vs {
			out = append(out, v.Field())
		}
	}
	return out
}

func mapValues(m map[string]*Value) func(func(*Value) bool) {
	return func(yield func(*Value) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// rsync_opt_extras: -z and --checksum are transfer options; --dry-run is reported, since
// the migration copies all the same.
func TestRsyncExtras(t *testing.T) {
	e, err := Resolve(readString(t, mc("  rsync_opt_extras: \"-z --checksum --dry-run\"\n")))
	if err != nil {
		t.Fatal(err)
	}
	if v := e.Transfer["compress"]; v == nil || v.Value != "true" || v.Field() != "spec.rsync_opt_extras -z" {
		t.Errorf("compress %+v", v)
	}
	if v := e.Transfer["checksum"]; v == nil || v.Field() != "spec.rsync_opt_extras --checksum" {
		t.Errorf("checksum %+v", v)
	}
	for opt, why := range map[string]string{"--dry-run": "the migration copies"} {
		found := false
		for _, ig := range e.Ignored {
			found = found || (ig.Field == "spec.rsync_opt_extras "+opt && strings.Contains(ig.Reason, why))
		}
		if !found {
			t.Errorf("%s is not reported with %q: %+v", opt, why, e.Ignored)
		}
	}
}

// MTC's operator takes numbers where its fields are strings: `src_supplemental_groups: 1000`
// or `target_rsync_pod_cpu_requests: 0.5` mean the text as written.
func TestNumbersInTextFields(t *testing.T) {
	e, err := Resolve(readString(t, mc("  source_rsync_pod_cpu_limits: 2\n  target_rsync_pod_cpu_requests: 0.5\n  src_supplemental_groups: 1000\n")))
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{"source_rsync_pod_cpu_limits": "2", "target_rsync_pod_cpu_requests": "0.5", "src_supplemental_groups": "1000"} {
		if v := e.Migration[f]; v == nil || v.Value != want {
			t.Errorf("%s = %+v, want %q", f, v, want)
		}
	}
	p := filepath.Join(t.TempDir(), "mc.yaml")
	os.WriteFile(p, []byte(mc("  src_supplemental_groups: [1000]\n")), 0o600)
	if err := ReadFiles([]string{p}, &Inputs{}); err == nil || !strings.Contains(err.Error(), "spec.src_supplemental_groups: want a string") {
		t.Errorf("a list for a text field: %v", err)
	}
}
