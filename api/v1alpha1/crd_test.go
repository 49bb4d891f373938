package v1alpha1_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/ferrydvm/ferry/api/v1alpha1"
)

const crdDir = "../../config/crd/bases"

// loadCRDs reads every CRD that `make generate` wrote, by kind.
func loadCRDs(t *testing.T) map[string]*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in %s (%v): run make generate", crdDir, err)
	}
	crds := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if crd.Kind != "CustomResourceDefinition" || crd.APIVersion != "apiextensions.k8s.io/v1" {
			t.Fatalf("%s: %s %s is not a CRD", f, crd.APIVersion, crd.Kind)
		}
		if prev, dup := crds[crd.Spec.Names.Kind]; dup {
			t.Fatalf("%s: a second CRD for %s (first %s)", f, crd.Spec.Names.Kind, prev.Name)
		}
		crds[crd.Spec.Names.Kind] = crd
	}
	return crds
}

func TestCRDs(t *testing.T) {
	crds := loadCRDs(t)
	tests := []struct {
		kind, plural string
		status       bool
		shortNames   []string
		columns      []string
	}{
		{kind: "MigrationController", plural: "migrationcontrollers"},
		{kind: "MigCluster", plural: "migclusters", status: true, columns: []string{"Ready", "URL", "Host", "Age"}},
		{kind: "DirectVolumeMigration", plural: "directvolumemigrations", status: true, shortNames: []string{"dvm"}, columns: []string{"Phase", "Progress", "Type", "Message", "Age"}},
	}
	if len(crds) != len(tests) {
		t.Errorf("%d CRDs in %s, want %d", len(crds), crdDir, len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			crd := crds[tt.kind]
			if crd == nil {
				t.Fatalf("no CRD for %s", tt.kind)
			}
			if crd.Name != tt.plural+"."+v1alpha1.GroupName || crd.Spec.Group != v1alpha1.GroupName {
				t.Errorf("name %s, group %s", crd.Name, crd.Spec.Group)
			}
			n := crd.Spec.Names
			if n.Plural != tt.plural || n.ListKind != tt.kind+"List" || n.Singular != strings.ToLower(tt.kind) || !slices.Equal(n.ShortNames, tt.shortNames) {
				t.Errorf("names %+v", n)
			}
			if crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
				t.Errorf("scope %s", crd.Spec.Scope)
			}
			if len(crd.Spec.Versions) != 1 {
				t.Fatalf("%d versions, want 1", len(crd.Spec.Versions))
			}
			v := crd.Spec.Versions[0]
			if v.Name != v1alpha1.Version || !v.Served || !v.Storage {
				t.Errorf("version %s served=%v storage=%v", v.Name, v.Served, v.Storage)
			}
			hasStatus := v.Subresources != nil && v.Subresources.Status != nil
			if hasStatus != tt.status {
				t.Errorf("status subresource %v, want %v", hasStatus, tt.status)
			}
			if _, ok := v.Schema.OpenAPIV3Schema.Properties["status"]; ok != tt.status {
				t.Errorf("status in the schema %v, want %v", ok, tt.status)
			}
			var columns []string
			for _, c := range v.AdditionalPrinterColumns {
				columns = append(columns, c.Name)
			}
			if !slices.Equal(columns, tt.columns) {
				t.Errorf("printer columns %v, want %v", columns, tt.columns)
			}
			for _, p := range structuralProblems(v.Schema.OpenAPIV3Schema, "") {
				t.Errorf("not structural: %s", p)
			}
			undocumented(t, v.Schema.OpenAPIV3Schema, "")
		})
	}

	mc := crds["MigrationController"].Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	if mc.XPreserveUnknownFields == nil || !*mc.XPreserveUnknownFields || mc.Type != "object" {
		t.Errorf("MigrationController spec must be an object that keeps unknown fields: %+v", mc)
	}
	for _, f := range []string{"stunnel_tcp_proxy", "ferry_tcp_proxy_chain", "http_proxy", "rsync_opt_bwlimit", "rsync_opt_archive"} {
		if _, ok := mc.Properties[f]; !ok {
			t.Errorf("MigrationController spec does not describe %s", f)
		}
	}
	if _, ok := mc.Properties["Other"]; ok {
		t.Errorf("MigrationController spec has a property for Go's Other field")
	}
}

// TestKustomization: config/crd/kustomization.yaml installs every generated CRD.
func TestKustomization(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(crdDir, "..", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
	var want []string
	for _, f := range files {
		want = append(want, "bases/"+filepath.Base(f))
	}
	got := slices.Sorted(slices.Values(k.Resources))
	if !slices.Equal(got, want) {
		t.Errorf("config/crd/kustomization.yaml lists %v, want %v", got, want)
	}
}

// structuralProblems lists the nodes a kube-apiserver would reject as not structural:
// every node needs a type unless it keeps unknown fields or is int-or-string.
func structuralProblems(s *apiextensionsv1.JSONSchemaProps, path string) []string {
	var out []string
	if s.Type == "" && !s.XIntOrString && (s.XPreserveUnknownFields == nil || !*s.XPreserveUnknownFields) {
		out = append(out, path+": no type")
	}
	for name, p := range s.Properties {
		out = append(out, structuralProblems(&p, path+"."+name)...)
	}
	if s.Items != nil && s.Items.Schema != nil {
		out = append(out, structuralProblems(s.Items.Schema, path+"[]")...)
	}
	return out
}

// undocumented fails for a property without a description: the doc comments are the
// documentation users read with kubectl explain.
func undocumented(t *testing.T, s *apiextensionsv1.JSONSchemaProps, path string) {
	t.Helper()
	for name, p := range s.Properties {
		if path == "" && name == "metadata" {
			continue
		}
		if strings.TrimSpace(p.Description) == "" {
			t.Errorf("%s.%s has no description", path, name)
		}
		undocumented(t, &p, path+"."+name)
	}
	if s.Items != nil && s.Items.Schema != nil {
		undocumented(t, s.Items.Schema, path+"[]")
	}
}

// admit checks a decoded object against a CRD schema the way the API server's strict
// field validation and OpenAPI validation would, for the parts the schemas here use: types,
// required fields, unknown fields, enums, patterns, minimums and minItems. CEL rules
// (x-kubernetes-validations) are not evaluated.
func admit(s *apiextensionsv1.JSONSchemaProps, v any, path string) []string {
	if v == nil {
		return nil
	}
	var out []string
	bad := func(format string, args ...any) []string {
		return append(out, path+": "+fmt.Sprintf(format, args...))
	}
	if len(s.Enum) > 0 {
		got, _ := json.Marshal(v)
		if !slices.ContainsFunc(s.Enum, func(e apiextensionsv1.JSON) bool { return string(e.Raw) == string(got) }) {
			out = bad("%s is not one of the allowed values", got)
		}
	}
	preserve := s.XPreserveUnknownFields != nil && *s.XPreserveUnknownFields
	switch {
	case s.XIntOrString:
		if f, ok := v.(float64); ok && f == math.Trunc(f) {
			return out
		}
		if _, ok := v.(string); !ok {
			return bad("want an integer or a string, got %T", v)
		}
	case s.Type == "" && preserve:
	case s.Type == "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return bad("want an object, got %T", v)
		}
		for _, r := range s.Required {
			if _, ok := obj[r]; !ok {
				out = bad("required field %s is missing", r)
			}
		}
		for k, fv := range obj {
			if path == "" && k == "metadata" {
				continue
			}
			if p, ok := s.Properties[k]; ok {
				out = append(out, admit(&p, fv, path+"."+k)...)
			} else if !preserve {
				out = bad("unknown field %q", k)
			}
		}
	case s.Type == "array":
		arr, ok := v.([]any)
		if !ok {
			return bad("want an array, got %T", v)
		}
		if s.MinItems != nil && int64(len(arr)) < *s.MinItems {
			out = bad("%d items, want at least %d", len(arr), *s.MinItems)
		}
		for i, e := range arr {
			out = append(out, admit(s.Items.Schema, e, fmt.Sprintf("%s[%d]", path, i))...)
		}
	case s.Type == "string":
		str, ok := v.(string)
		if !ok {
			return bad("want a string, got %T", v)
		}
		if s.Pattern != "" && !regexp.MustCompile(s.Pattern).MatchString(str) {
			out = bad("%q does not match %s", str, s.Pattern)
		}
		if s.MinLength != nil && int64(len(str)) < *s.MinLength {
			out = bad("%q is shorter than %d", str, *s.MinLength)
		}
		if s.Format == "byte" {
			if _, err := base64.StdEncoding.DecodeString(str); err != nil {
				out = bad("not base64: %v", err)
			}
		}
	case s.Type == "integer":
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) {
			return bad("want an integer, got %v", v)
		}
		if s.Minimum != nil && f < *s.Minimum {
			out = bad("%v is less than %v", f, *s.Minimum)
		}
	case s.Type == "boolean":
		if _, ok := v.(bool); !ok {
			return bad("want true or false, got %T %v", v, v)
		}
	default:
		return bad("schema type %q not handled by this test", s.Type)
	}
	return out
}

// documents reads the YAML documents of a file under testdata as JSON values.
func documents(t *testing.T, name string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		docs = append(docs, obj)
	}
	return docs
}

func schemaOf(t *testing.T, crds map[string]*apiextensionsv1.CustomResourceDefinition, kind string) *apiextensionsv1.JSONSchemaProps {
	t.Helper()
	crd := crds[kind]
	if crd == nil {
		t.Fatalf("no CRD for %s", kind)
	}
	return crd.Spec.Versions[0].Schema.OpenAPIV3Schema
}

// TestFixturesAdmitted: MTC's manifests, as written, pass the CRDs' schemas.
func TestFixturesAdmitted(t *testing.T) {
	crds := loadCRDs(t)
	for _, f := range []string{"migcluster.yaml", "directvolumemigration.yaml", "directvolumemigration-status.yaml", "migrationcontroller.yaml"} {
		for i, doc := range documents(t, f) {
			kind, _ := doc["kind"].(string)
			for _, p := range admit(schemaOf(t, crds, kind), doc, "") {
				t.Errorf("%s document %d (%s) rejected: %s", f, i+1, kind, p)
			}
		}
	}
}

// TestSchemaRejects: the validation markers reach the CRDs.
func TestSchemaRejects(t *testing.T) {
	crds := loadCRDs(t)
	dvm := documents(t, "directvolumemigration.yaml")[0]
	tests := []struct {
		name, kind string
		doc        string
		want       string
	}{
		{"MTC's rollback", "DirectVolumeMigration", "spec: {migrationType: Rollback}", ".spec.migrationType: \"Rollback\" is not one of"},
		{"endpoint in lower case", "DirectVolumeMigration", "spec: {endpoint: route}", ".spec.endpoint: \"route\" is not one of"},
		{"negative backOffLimit", "DirectVolumeMigration", "spec: {backOffLimit: -1}", ".spec.backOffLimit: -1 is less than 0"},
		{"no claims", "DirectVolumeMigration", "spec: {persistentVolumeClaims: []}", ".spec.persistentVolumeClaims: 0 items, want at least 1"},
		{"claim without namespace", "DirectVolumeMigration", "spec: {persistentVolumeClaims: [{name: data}]}", ".spec.persistentVolumeClaims[0]: required field namespace is missing"},
		{"unknown access mode", "DirectVolumeMigration", "spec: {persistentVolumeClaims: [{name: d, namespace: n, targetAccessModes: [RWO]}]}", "targetAccessModes[0]: \"RWO\" is not one of"},
		{"misspelt field", "DirectVolumeMigration", "spec: {persistentVolumeClaim: []}", ".spec: unknown field \"persistentVolumeClaim\""},
		{"volume phase", "DirectVolumeMigration", "status: {volumes: [{pvcRef: {name: d, namespace: n}, phase: Done}]}", ".status.volumes[0].phase: \"Done\" is not one of"},
		{"url without scheme", "MigCluster", "spec: {url: api.example.com:6443}", ".spec.url: \"api.example.com:6443\" does not match"},
		{"caBundle not base64", "MigCluster", "spec: {caBundle: '-----BEGIN'}", ".spec.caBundle: not base64"},
		{"MigrationController proxy not a string", "MigrationController", "spec: {stunnel_tcp_proxy: [a]}", ".spec.stunnel_tcp_proxy: want a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var patch map[string]any
			if err := yaml.Unmarshal([]byte(tt.doc), &patch); err != nil {
				t.Fatal(err)
			}
			doc := map[string]any{"apiVersion": "migration.openshift.io/v1alpha1", "kind": tt.kind, "spec": map[string]any{}}
			if tt.kind == "DirectVolumeMigration" {
				doc = merge(dvm, patch)
			} else {
				doc = merge(doc, patch)
			}
			problems := admit(schemaOf(t, crds, tt.kind), doc, "")
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("problems %q, want one containing %q", problems, tt.want)
			}
		})
	}

	// A MigrationController keeps what ferry does not type, in any JSON form.
	mc := map[string]any{"kind": "MigrationController", "spec": map[string]any{
		"mig_pv_limit": "100", "rsync_opt_archive": "true", "rsync_opt_delete": true,
		"rsync_opt_bwlimit": "1024", "rsync_backoff_limit": float64(3), "excluded_resources": []any{"imagetags"},
	}}
	if p := admit(schemaOf(t, crds, "MigrationController"), mc, ""); len(p) > 0 {
		t.Errorf("MigrationController rejected: %q", p)
	}
}

// merge returns a copy of base with patch's keys set, objects merged recursively.
func merge(base, patch map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range patch {
		if pm, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = merge(bm, pm)
				continue
			}
		}
		out[k] = v
	}
	return out
}
