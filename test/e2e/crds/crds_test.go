// Package crds checks ferry's generated CustomResourceDefinitions (config/crd/bases) on a
// real kube-apiserver: MTC's manifests in api/v1alpha1/testdata are admitted as written
// and kept as written, invalid manifests are refused with an error that names the field,
// and the printer columns of `kubectl get` show the status.
package crds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/ferrydvm/ferry/test/e2e/cluster"
	"github.com/ferrydvm/ferry/test/e2e/env"
)

// fixtureDir holds the manifests the Go types are tested with (api/v1alpha1/types_test.go).
const fixtureDir = "../../../api/v1alpha1/testdata"

// As kubectl and any client writing manifests by hand: unknown fields are errors, not
// silently pruned.
var (
	strictCreate = metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}
	strictUpdate = metav1.UpdateOptions{FieldValidation: metav1.FieldValidationStrict}
)

// TestCRDs installs the CRDs as a user does and uses them as MTC's users and ferry's
// controller do.
func TestCRDs(t *testing.T) {
	fixtures := readFixtures(t)
	s := start(t)
	s.waitServed(t, fixtures)

	t.Run("fixtures admitted", func(t *testing.T) {
		for _, f := range fixtures {
			t.Run(f.GetKind()+"/"+f.GetName(), func(t *testing.T) {
				got := s.create(t, f.DeepCopy())
				// Strict validation refuses unknown fields rather than dropping them, and
				// nothing else may drop or change what the manifest says (DeepDerivative
				// skips the manifest's empty values and compares the rest).
				if !equality.Semantic.DeepDerivative(f.Object, got.Object) {
					t.Errorf("stored object differs from the manifest (- manifest, + stored):\n%s", diff.Diff(f.Object, got.Object))
				}
			})
		}
	})

	t.Run("rejected", func(t *testing.T) {
		testRejects(t, s, fixtures)
	})

	t.Run("MigrationController keeps any JSON form", func(t *testing.T) {
		// An Ansible operator's users quote booleans and numbers, or not; ferry types few
		// of the fields and must keep all of them as written.
		mc := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "migration.openshift.io/v1alpha1",
			"kind":       "MigrationController",
			"metadata":   map[string]any{"name": "forms", "namespace": "openshift-migration"},
			"spec": map[string]any{
				"mig_pv_limit": "100", "rsync_opt_archive": "true", "rsync_opt_delete": true,
				"rsync_opt_bwlimit": "1024", "rsync_backoff_limit": int64(3), "excluded_resources": []any{"imagetags"},
			},
		}}
		got := s.create(t, mc.DeepCopy())
		if !equality.Semantic.DeepEqual(mc.Object["spec"], got.Object["spec"]) {
			t.Errorf("spec changed (- sent, + stored):\n%s", diff.Diff(mc.Object["spec"], got.Object["spec"]))
		}
	})

	t.Run("printer columns", func(t *testing.T) {
		i := slices.IndexFunc(fixtures, func(u *unstructured.Unstructured) bool {
			return u.GetKind() == "DirectVolumeMigration" && u.Object["status"] != nil
		})
		if i < 0 {
			t.Fatalf("no DirectVolumeMigration with a status in %s", fixtureDir)
		}
		testColumns(t, s, fixtures[i])
	})
}

// testRejects checks that the API server refuses manifests that break the schema's
// validation markers, naming the field.
func testRejects(t *testing.T, s *server, fixtures []*unstructured.Unstructured) {
	const dvm, stage, host, remote, mc = "shop-cutover-dvm", "shop-stage-1", "host", "source-cluster", "migration-controller"
	const invalid, badRequest = metav1.StatusReasonInvalid, metav1.StatusReasonBadRequest
	tests := []struct {
		name   string
		base   string              // the fixture the case starts from, by name
		path   string              // the field the case sets, dotted; status.* is written to the status subresource
		value  string              // the value it sets, in YAML
		reason metav1.StatusReason // the error's
		field  string              // the field the error must name, and no other
		detail string              // a part of the error's message about field
	}{
		{"MTC's rollback", dvm, "spec.migrationType", "Rollback", invalid, "spec.migrationType", `Unsupported value: "Rollback"`},
		{"endpoint in lower case", dvm, "spec.endpoint", "route", invalid, "spec.endpoint", `Unsupported value: "route"`},
		{"negative backOffLimit", dvm, "spec.backOffLimit", "-1", invalid, "spec.backOffLimit", "greater than or equal to 0"},
		{"no claims", dvm, "spec.persistentVolumeClaims", "[]", invalid, "spec.persistentVolumeClaims", "at least 1 items"},
		{"claim without namespace", dvm, "spec.persistentVolumeClaims", "[{name: data}]", invalid, "spec.persistentVolumeClaims[0].namespace", "Required value"},
		{"unknown access mode", dvm, "spec.persistentVolumeClaims", "[{name: data, namespace: shop, targetAccessModes: [RWO]}]", invalid, "spec.persistentVolumeClaims[0].targetAccessModes[0]", `Unsupported value: "RWO"`},
		{"misspelt field", dvm, "spec.persistentVolumeClaim", "[]", badRequest, "spec.persistentVolumeClaim", "unknown field"},
		{"volume phase", stage, "status.volumes", "[{pvcRef: {name: postgres-data, namespace: shop}, phase: Done}]", invalid, "status.volumes[0].phase", `Unsupported value: "Done"`},
		{"url without scheme", remote, "spec.url", "api.example.com:6443", invalid, "spec.url", "should match '^https?://'"},
		{"caBundle not base64", remote, "spec.caBundle", "'-----BEGIN'", invalid, "spec.caBundle", "must be of type byte"},
		{"MigrationController proxy not a string", mc, "spec.stunnel_tcp_proxy", "[a]", invalid, "spec.stunnel_tcp_proxy", `must be of type string`},
		// The CEL rule (x-kubernetes-validations) of MigClusterSpec.
		{"remote cluster without url and secret", host, "spec.isHostCluster", "false", invalid, "spec", "needs url and serviceAccountSecretRef"},
		{"remote cluster without secret", host, "spec", "{isHostCluster: false, url: 'https://api.example.com:6443'}", invalid, "spec", "needs url and serviceAccountSecretRef"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := fixtureNamed(t, fixtures, tt.base)
			var value any
			if err := yaml.Unmarshal([]byte(tt.value), &value); err != nil {
				t.Fatalf("value %q: %v", tt.value, err)
			}
			obj := base.DeepCopy()
			obj.SetName(fmt.Sprintf("%s-reject-%d", tt.base, i))
			path := strings.Split(tt.path, ".")
			if err := unstructured.SetNestedField(obj.Object, value, path...); err != nil {
				t.Fatal(err)
			}

			var err error
			what := "create"
			if path[0] == "status" {
				// The status subresource ignores a status sent with create: create the
				// object as it is, then write the status.
				what = "update status"
				unstructured.RemoveNestedField(obj.Object, "status")
				created := s.create(t, obj)
				if err := unstructured.SetNestedField(created.Object, value, path...); err != nil {
					t.Fatal(err)
				}
				_, err = s.resource(t, created).UpdateStatus(t.Context(), created, strictUpdate)
			} else {
				_, err = s.resource(t, obj).Create(t.Context(), obj, strictCreate)
			}
			if err == nil {
				t.Fatalf("%s with %s: %s: admitted", what, tt.path, tt.value)
			}
			checkRefusal(t, err, tt.reason, tt.field, tt.detail)
		})
	}
}

// checkRefusal checks that err is the API server's refusal for the given reason, about
// field alone, with detail in the message. An Invalid error (422) names its fields in
// causes; strict field validation's unknown fields are a BadRequest (400), as kubectl
// shows them, named in the message.
func checkRefusal(t *testing.T, err error, reason metav1.StatusReason, field, detail string) {
	t.Helper()
	t.Logf("refused: %v", err)
	var apiErr apierrors.APIStatus
	if !errors.As(err, &apiErr) {
		t.Fatalf("want an error from the API server, got %v", err)
	}
	status := apiErr.Status()
	if status.Reason != reason {
		t.Fatalf("want a %s error, got %d %s: %v", reason, status.Code, status.Reason, err)
	}
	if reason != metav1.StatusReasonInvalid {
		if !strings.Contains(status.Message, strconv.Quote(field)) || !strings.Contains(status.Message, detail) {
			t.Errorf("want an error naming %q with %q, got %v", field, detail, err)
		}
		return
	}
	var causes []metav1.StatusCause
	if status.Details != nil {
		causes = status.Details.Causes
	}
	if len(causes) == 0 {
		t.Fatalf("no causes in the error: %v", err)
	}
	for _, c := range causes {
		// CEL rules are not run on an object that fails the schema, and the API server
		// says so in a cause about no field.
		if strings.Contains(c.Message, "validation rules were not checked") {
			continue
		}
		// Only the field the case breaks: the rest of the manifest is valid.
		if c.Field != field || !strings.Contains(c.Message, detail) {
			t.Errorf("want every cause about %s with %q, got %s: %s", field, detail, c.Field, c.Message)
		}
	}
}

// testColumns reads dvm as `kubectl get` does, as a Table (the server fills in the CRD's
// additionalPrinterColumns), and checks that the Phase and
// Progress columns show its status.
func testColumns(t *testing.T, s *server, dvm *unstructured.Unstructured) {
	mapping := s.mapping(t, dvm)
	path := fmt.Sprintf("/apis/%s/%s/namespaces/%s/%s/%s", mapping.Resource.Group, mapping.Resource.Version,
		dvm.GetNamespace(), mapping.Resource.Resource, dvm.GetName())
	raw, err := s.cluster.Client().Discovery().RESTClient().Get().AbsPath(path).
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(t.Context())
	if err != nil {
		t.Fatalf("get %s as a Table: %v", path, err)
	}
	var table metav1.Table
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatalf("get %s as a Table: %v\n%s", path, err, raw)
	}
	if table.Kind != "Table" || len(table.Rows) != 1 {
		t.Fatalf("get %s: want a Table of one row, got %s with %d rows", path, table.Kind, len(table.Rows))
	}
	for _, col := range []struct{ name, field string }{{"Phase", "phase"}, {"Progress", "progress"}} {
		want, _, _ := unstructured.NestedString(dvm.Object, "status", col.field)
		i := slices.IndexFunc(table.ColumnDefinitions, func(c metav1.TableColumnDefinition) bool { return c.Name == col.name })
		if i < 0 {
			t.Errorf("no %s column in %+v", col.name, table.ColumnDefinitions)
			continue
		}
		if got := table.Rows[0].Cells[i]; want == "" || got != want {
			t.Errorf("column %s = %v, want status.%s of the manifest, %q", col.name, got, col.field, want)
		}
	}
}

// server is a kube-apiserver with ferry's CRDs.
type server struct {
	cluster    *cluster.Cluster
	dyn        dynamic.Interface
	mapper     meta.RESTMapper
	namespaces map[string]bool // created by resource
}

// start starts a cluster and installs the CRDs.
func start(t *testing.T) *server {
	c := cluster.Start(t, cluster.Options{Name: "crds"})
	c.InstallCRDs(t, env.CRDFiles()...)
	dyn, err := dynamic.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatalf("build dynamic client: %v", err)
	}
	return &server{
		cluster:    c,
		dyn:        dyn,
		mapper:     restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client().Discovery())),
		namespaces: map[string]bool{},
	}
}

// waitServed waits until the kinds of objs are served: a CRD is established before
// discovery and its handler catch up.
func (s *server) waitServed(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		var last error
		err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			m, err := s.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err == nil {
				_, err = s.dyn.Resource(m.Resource).List(ctx, metav1.ListOptions{Limit: 1})
			}
			last = err
			return err == nil, nil
		})
		if err != nil {
			t.Fatalf("wait for %s to be served: %v (last error: %v)", gvk, err, last)
		}
	}
}

// mapping finds the resource of obj's kind.
func (s *server) mapping(t *testing.T, obj *unstructured.Unstructured) *meta.RESTMapping {
	t.Helper()
	gvk := obj.GroupVersionKind()
	m, err := s.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		t.Fatalf("find the resource of %s: %v", gvk, err)
	}
	return m
}

// resource returns the client of obj's resource in obj's namespace, which it creates if
// it does not exist yet.
func (s *server) resource(t *testing.T, obj *unstructured.Unstructured) dynamic.ResourceInterface {
	t.Helper()
	m := s.mapping(t, obj)
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		return s.dyn.Resource(m.Resource)
	}
	ns := obj.GetNamespace()
	if !s.namespaces[ns] {
		_, err := s.cluster.Client().CoreV1().Namespaces().Create(t.Context(),
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create namespace %s: %v", ns, err)
		}
		s.namespaces[ns] = true
	}
	return s.dyn.Resource(m.Resource).Namespace(ns)
}

// create creates obj with strict field validation, then writes its status, if it has
// one, through the status subresource, as a controller does. It returns the object
// stored.
func (s *server) create(t *testing.T, obj *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	r := s.resource(t, obj)
	got, err := r.Create(t.Context(), obj, strictCreate)
	if err != nil {
		t.Fatalf("create %s %s/%s: %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	status, ok := obj.Object["status"]
	if !ok {
		return got
	}
	got.Object["status"] = status
	got, err = r.UpdateStatus(t.Context(), got, strictUpdate)
	if err != nil {
		t.Fatalf("update status of %s %s/%s: %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	return got
}

// readFixtures reads every manifest in fixtureDir.
func readFixtures(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", fixtureDir, err)
	}
	var out []*unstructured.Unstructured
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			err := dec.Decode(u)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("read %s: %v", file, err)
			}
			out = append(out, u)
		}
	}
	return out
}

// fixtureNamed returns the manifest of the given name.
func fixtureNamed(t *testing.T, fixtures []*unstructured.Unstructured, name string) *unstructured.Unstructured {
	t.Helper()
	i := slices.IndexFunc(fixtures, func(u *unstructured.Unstructured) bool { return u.GetName() == name })
	if i < 0 {
		t.Fatalf("no manifest named %s in %s", name, fixtureDir)
	}
	return fixtures[i]
}
