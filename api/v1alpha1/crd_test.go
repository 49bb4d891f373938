package v1alpha1_test

import (
	"os"
	"path/filepath"
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

// TestCRDs checks the choices the CRDs make (names, subresources, columns, documentation)
// that a kube-apiserver accepts either way. Whether one accepts the CRDs and MTC's
// manifests, and refuses invalid ones, is tested against a real one in test/e2e/crds.
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
			if crd.Spec.Group != v1alpha1.GroupName {
				t.Errorf("group %s", crd.Spec.Group)
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
