// Package liveconfig tests reading ferry's proxy configuration from a real kube-apiserver
// with MTC's and OpenShift's resource types installed.
package liveconfig

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/ferrydvm/ferry/internal/config"
	"github.com/ferrydvm/ferry/test/e2e/cluster"
	"github.com/ferrydvm/ferry/test/e2e/env"
)

func installCRDs(t *testing.T, c *cluster.Cluster) {
	c.InstallCRDs(t, env.CRDFiles()...)
}

func create(t *testing.T, dc dynamic.Interface, gvr schema.GroupVersionResource, doc string) {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: obj}
	var ri dynamic.ResourceInterface = dc.Resource(gvr)
	if ns := u.GetNamespace(); ns != "" {
		ri = dc.Resource(gvr).Namespace(ns)
	}
	if _, err := ri.Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create %s: %v", u.GetKind(), err)
	}
}

// populate installs MTC's and OpenShift's types and creates what an OpenShift cluster with
// MTC has: the MigrationController in openshift-migration, the cluster Proxy (spec and
// status differ, as when a rollout is pending) and the ClusterVersion.
func populate(t *testing.T, c *cluster.Cluster, dc dynamic.Interface) {
	t.Helper()
	ctx := context.Background()
	installCRDs(t, c)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: config.DefaultNamespace}}
	if _, err := c.Client().CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	create(t, dc, config.MigrationControllers, `apiVersion: migration.openshift.io/v1alpha1
kind: MigrationController
metadata: {name: migration-controller, namespace: openshift-migration}
spec:
  stunnel_tcp_proxy: http://username:password@10.0.0.5:3128
  httpsProxy: http://cr:pw@cr-proxy:3128
  mig_pv_limit: "100"
`)
	create(t, dc, config.Proxies, `apiVersion: config.openshift.io/v1
kind: Proxy
metadata: {name: cluster}
spec: {httpProxy: "http://spec:3128"}
status: {httpProxy: "http://status:3128", httpsProxy: "http://status:3128", noProxy: ".svc,.cluster.local"}
`)
	create(t, dc, config.ClusterVersions, `apiVersion: config.openshift.io/v1
kind: ClusterVersion
metadata: {name: version}
status: {desired: {version: "4.12.7"}}
`)
}

func TestReadFromCluster(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Name: "source"})
	dc, err := dynamic.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// Before the types exist: nothing is read and nothing fails.
	var in config.Inputs
	if err := config.ReadCluster(ctx, dc, config.DefaultNamespace, &in); err != nil {
		t.Fatalf("a cluster without MTC's types: %v", err)
	}
	if in.Controller != nil || in.ClusterProxy != nil || in.ClusterVersion != "" {
		t.Fatalf("read objects that do not exist: %+v", in)
	}

	populate(t, c, dc)

	in = config.Inputs{Env: map[string]string{"HTTP_PROXY": "http://env:3128"}}
	if err := config.ReadCluster(ctx, dc, config.DefaultNamespace, &in); err != nil {
		t.Fatal(err)
	}
	e, err := config.Resolve(in)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, v *config.Value, value, source string) {
		t.Helper()
		if v == nil || v.Value != value || !strings.Contains(v.Source, source) {
			t.Errorf("%s = %+v, want %s from %s", name, v, value, source)
		}
	}
	check("data proxy", e.DataProxies[0], "http://username:xxxxx@10.0.0.5:3128", "openshift-migration/migration-controller spec.stunnel_tcp_proxy")
	check("https proxy", e.HTTPSProxy, "http://cr:xxxxx@cr-proxy:3128", "spec.httpsProxy")
	check("http proxy", e.HTTPProxy, "http://env:3128", "environment HTTP_PROXY")
	check("no proxy", e.NoProxy, ".svc,.cluster.local", "Proxy cluster status.noProxy")
	if e.Cluster.Version != "4.12.7" || !e.Cluster.ClusterProxyApplies {
		t.Errorf("cluster %+v", e.Cluster)
	}
	if len(e.Ignored) != 1 || e.Ignored[0].Field != "spec.mig_pv_limit" {
		t.Errorf("ignored %+v", e.Ignored)
	}
}
