package config

import (
	"context"
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
)

func object(apiVersion, kind, namespace, name string, fields map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind}}
	for k, v := range fields {
		u.Object[k] = v
	}
	u.SetNamespace(namespace)
	u.SetName(name)
	return u
}

func controllerObject(name, stunnel string) *unstructured.Unstructured {
	return object("migration.openshift.io/v1alpha1", "MigrationController", DefaultNamespace, name,
		map[string]any{"spec": map[string]any{"stunnel_tcp_proxy": stunnel}})
}

func fakeCluster(objs ...runtime.Object) *fake.FakeDynamicClient {
	return fake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		MigrationControllers: "MigrationControllerList", Proxies: "ProxyList", ClusterVersions: "ClusterVersionList",
	}, objs...)
}

func TestReadClusterPicksTheController(t *testing.T) {
	tests := []struct {
		name    string
		objs    []runtime.Object
		want    string // the data proxy read, or the error's text
		wantErr bool
	}{
		{"none", nil, "", false},
		{"the only one, whatever its name", []runtime.Object{controllerObject("mine", "http://only:1")}, "http://only:1", false},
		{"migration-controller among several", []runtime.Object{controllerObject("a-first", "http://a:1"), controllerObject("migration-controller", "http://mc:1"), controllerObject("z-last", "http://z:1")}, "http://mc:1", false},
		{"several, none named migration-controller", []runtime.Object{controllerObject("one", "http://a:1"), controllerObject("two", "http://b:1")}, "one, two", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in Inputs
			err := ReadCluster(context.Background(), fakeCluster(tt.objs...), DefaultNamespace, &in)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "migration-controller") {
					t.Fatalf("error %v, want one naming %s and migration-controller", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if in.Controller != nil {
				got = in.Controller.Spec.StunnelTCPProxy
			}
			if got != tt.want {
				t.Errorf("read the controller with %q, want %q", got, tt.want)
			}
		})
	}
}

// A Proxy or ClusterVersion the caller may not read is treated as absent and said so;
// other failures are errors.
func TestReadClusterForbidden(t *testing.T) {
	proxyObj := object("config.openshift.io/v1", "Proxy", "", "cluster", map[string]any{"status": map[string]any{"httpsProxy": "http://status:1"}})
	versionObj := object("config.openshift.io/v1", "ClusterVersion", "", "version", map[string]any{"status": map[string]any{"desired": map[string]any{"version": "4.1.0"}}})
	refuse := func(resource string, err error) func(*fake.FakeDynamicClient) {
		return func(dc *fake.FakeDynamicClient) {
			dc.PrependReactor("get", resource, func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, err })
		}
	}
	forbidden := func(resource, name string) error {
		return apierrors.NewForbidden(schema.GroupResource{Group: "config.openshift.io", Resource: resource}, name, errors.New("RBAC"))
	}
	tests := []struct {
		name       string
		setup      func(*fake.FakeDynamicClient)
		wantHTTPS  string
		unreadable string
		wantErr    string
	}{
		{"both readable: 4.1 has no cluster proxy", func(*fake.FakeDynamicClient) {}, "", "", ""},
		{"Proxy forbidden", refuse("proxies", forbidden("proxies", "cluster")), "", `proxies.config.openshift.io "cluster"`, ""},
		{"ClusterVersion forbidden: the Proxy applies", refuse("clusterversions", forbidden("clusterversions", "version")), "http://status:1", `clusterversions.config.openshift.io "version"`, ""},
		{"Proxy unavailable", refuse("proxies", apierrors.NewServiceUnavailable("down")), "", "", `read proxies "cluster"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dc := fakeCluster(proxyObj.DeepCopy(), versionObj.DeepCopy())
			tt.setup(dc)
			in := Inputs{Env: map[string]string{}}
			err := ReadCluster(context.Background(), dc, DefaultNamespace, &in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			e, err := Resolve(in)
			if err != nil {
				t.Fatal(err)
			}
			if got := effectiveSummary(e)["https"]; got != tt.wantHTTPS {
				t.Errorf("https proxy %q, want %q", got, tt.wantHTTPS)
			}
			var objects []string
			for _, u := range e.Cluster.Unreadable {
				objects = append(objects, u.Object)
				if !strings.Contains(u.Reason, "forbidden: treated as absent") {
					t.Errorf("reason %q", u.Reason)
				}
			}
			if strings.Join(objects, ";") != tt.unreadable {
				t.Errorf("unreadable %v, want %q", objects, tt.unreadable)
			}
		})
	}
}
