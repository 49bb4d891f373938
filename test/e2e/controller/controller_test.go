// Package controller_test runs `ferry controller` against the two clusters of test/e2e/env:
// installed from config/ (kustomize), with only the permissions of its ClusterRole, it
// migrates a claim from the source through squid to the target when a
// DirectVolumeMigration asks for it.
package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/treediff"
	"github.com/ferrydvm/ferry/internal/treegen"
	"github.com/ferrydvm/ferry/test/e2e/env"
)

const ns = "ferry-system"

// TestController installs the controller's manifests in both clusters (RBAC only on the
// source), runs it on the host as the target's ferry-controller ServiceAccount, and has
// it migrate one claim through squid and a Route; the trees must be identical, the
// status must show the progress, and nothing the migration made may be left.
func TestController(t *testing.T) {
	e := env.Start(t)
	ctx := t.Context()
	apply(t, e.Target, build(t, "default", ns))
	if _, err := e.Source.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	apply(t, e.Source, build(t, "rbac", ns))
	kc := kubeconfig(t, e.Target, saToken(t, e.Target, ns, "ferry-controller"))
	c := startController(t, e, kc, ns, false)

	// MTC's configuration: the data path through squid, with Basic auth.
	mc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "migration.openshift.io/v1alpha1", "kind": "MigrationController",
		"metadata": map[string]any{"name": "migration-controller", "namespace": ns},
		"spec":     map[string]any{"stunnel_tcp_proxy": e.ProxyURL},
	}}
	if _, err := ferryResource(e.Target, "MigrationController", ns).Create(ctx, mc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(e.Source.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{"source-token": saToken(t, e.Source, ns, "ferry-controller"), "bad-token": "not-a-token"}
	for name, tok := range tokens {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: map[string]string{v1alpha1.SATokenKey: tok}}
		if _, err := e.Target.Client().CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	remote := func(name, secret string) *v1alpha1.MigCluster {
		return &v1alpha1.MigCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: v1alpha1.MigClusterSpec{
			URL: e.Source.URL, CABundle: ca, ServiceAccountSecretRef: &corev1.ObjectReference{Name: secret, Namespace: ns}}}
	}
	create(t, e.Target, "MigCluster", remote("source", "source-token"))
	create(t, e.Target, "MigCluster", remote("bad", "bad-token"))
	create(t, e.Target, "MigCluster", &v1alpha1.MigCluster{ObjectMeta: metav1.ObjectMeta{Name: "host", Namespace: ns}, Spec: v1alpha1.MigClusterSpec{IsHostCluster: true}})
	for name, want := range map[string]string{"source": "True", "host": "True", "bad": "Unauthorized"} {
		cond := waitCluster(t, e, name, want)
		if strings.Contains(cond.Message, tokens["source-token"]) || strings.Contains(cond.Message, "not-a-token") {
			t.Errorf("MigCluster %s shows a token: %s", name, cond.Message)
		}
		if name != "host" && !strings.Contains(cond.Message, e.Source.URL) {
			t.Errorf("MigCluster %s: the message does not name %s: %s", name, e.Source.URL, cond.Message)
		}
	}

	src := e.Source.Claim(t, "shop", "data")
	if _, err := treegen.Generate(ctx, src, treegen.Spec{Fidelity: true, SmallFiles: 200, LargeFiles: 1, LargeSize: 8 << 20, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	dvm := &v1alpha1.DirectVolumeMigration{
		ObjectMeta: metav1.ObjectMeta{Name: "shop-cutover", Namespace: ns},
		Spec: v1alpha1.DirectVolumeMigrationSpec{
			SrcMigClusterRef:            &corev1.ObjectReference{Name: "source", Namespace: ns},
			DestMigClusterRef:           &corev1.ObjectReference{Name: "host", Namespace: ns},
			PersistentVolumeClaims:      []v1alpha1.PVCToMigrate{{PVCReference: v1alpha1.PVCReference{Name: "data", Namespace: "shop"}}},
			CreateDestinationNamespaces: true,
		},
	}
	began := time.Now()
	create(t, e.Target, "DirectVolumeMigration", dvm)
	got := waitDVM(t, e, dvm.Name)
	t.Logf("migrated in %v: %s", time.Since(began).Round(time.Millisecond), got.Status.Message)
	if got.Status.Phase != v1alpha1.PhaseSucceeded {
		js, _ := json.MarshalIndent(got.Status, "", "  ")
		t.Fatalf("DVM ended %s:\n%s\ncontroller log:\n%s", got.Status.Phase, js, indent(c.tail(80)))
	}
	checkStatus(t, got)

	diffs, err := treediff.Compare(ctx, src, e.Target.VolumePath(t, "shop", "data"), treediff.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range diffs {
		if i == 10 {
			t.Errorf("%d more differences", len(diffs)-10)
			break
		}
		t.Errorf("the target differs: %v", d)
	}
	for _, s := range []*env.Side{e.Source, e.Target} {
		if left := s.Leftovers(ctx, "shop"); len(left) > 0 {
			t.Errorf("%s: the migration left %v", s.Name, left)
		}
	}
	checkEvents(t, e, dvm.Name)
	checkMetrics(t, c)

	// Finished: the finalizer is gone, and deleting the DVM runs nothing.
	if len(got.Finalizers) > 0 {
		poll(t, "the finalizer removed", 30*time.Second, func(ctx context.Context) (bool, error) {
			err := get(ctx, e.Target, "DirectVolumeMigration", ns, dvm.Name, got)
			return err == nil && len(got.Finalizers) == 0, nil
		})
	}
	if err := ferryResource(e.Target, "DirectVolumeMigration", ns).Delete(ctx, dvm.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("deleted while running", func(t *testing.T) { deleteWhileRunning(t, e) })
	// Last: once it leads, this one reconciles too.
	t.Run("leader election", func(t *testing.T) { leaderElection(t, e, kc) })
}

// leaderElection starts a controller with --leader-elect: with the Role of config/rbac it
// takes the Lease in its namespace.
func leaderElection(t *testing.T, e *env.Env, kc string) {
	startController(t, e, kc, ns, true)
	poll(t, "the Lease held", time.Minute, func(ctx context.Context) (bool, error) {
		l, err := e.Target.Client().CoordinationV1().Leases(ns).Get(ctx, "ferry-controller.migration.openshift.io", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "", err
	})
}

// deleteWhileRunning deletes a DVM whose receiver waits for a claim that cannot bind:
// the migration is cancelled, cleans up, and only then does the DVM go away.
func deleteWhileRunning(t *testing.T, e *env.Env) {
	ctx := t.Context()
	e.Source.Claim(t, "blog", "data")
	dvm := &v1alpha1.DirectVolumeMigration{
		ObjectMeta: metav1.ObjectMeta{Name: "blog-stuck", Namespace: ns},
		Spec: v1alpha1.DirectVolumeMigrationSpec{
			SrcMigClusterRef:  &corev1.ObjectReference{Name: "source", Namespace: ns},
			DestMigClusterRef: &corev1.ObjectReference{Name: "host", Namespace: ns},
			PersistentVolumeClaims: []v1alpha1.PVCToMigrate{{PVCReference: v1alpha1.PVCReference{Name: "data", Namespace: "blog"},
				TargetStorageClass: "no-such-class"}},
			CreateDestinationNamespaces: true,
			MigrationType:               v1alpha1.MigrationTypeStage,
		},
	}
	create(t, e.Target, "DirectVolumeMigration", dvm)
	poll(t, "the DVM Running with its receiver created", time.Minute, func(ctx context.Context) (bool, error) {
		var d v1alpha1.DirectVolumeMigration
		if err := get(ctx, e.Target, "DirectVolumeMigration", ns, dvm.Name, &d); err != nil {
			return false, err
		}
		pods, err := e.Target.Client().CoreV1().Pods("blog").List(ctx, metav1.ListOptions{LabelSelector: "ferry.dev/role=receiver"})
		return d.Status.Phase == v1alpha1.PhaseRunning && err == nil && len(pods.Items) > 0, err
	})
	if err := ferryResource(e.Target, "DirectVolumeMigration", ns).Delete(ctx, dvm.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the DVM gone", 3*time.Minute, func(ctx context.Context) (bool, error) {
		_, err := ferryResource(e.Target, "DirectVolumeMigration", ns).Get(ctx, dvm.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	for _, s := range []*env.Side{e.Source, e.Target} {
		if left := s.Leftovers(ctx, "blog"); len(left) > 0 {
			t.Errorf("%s: the cancelled migration left %v", s.Name, left)
		}
	}
}

// waitCluster waits until a MigCluster's Ready condition is True ("True") or False with
// the reason want, and returns it.
func waitCluster(t *testing.T, e *env.Env, name, want string) metav1.Condition {
	t.Helper()
	var cond metav1.Condition
	poll(t, "MigCluster "+name+" "+want, time.Minute, func(ctx context.Context) (bool, error) {
		var mc v1alpha1.MigCluster
		if err := get(ctx, e.Target, "MigCluster", ns, name, &mc); err != nil {
			return false, err
		}
		c := meta.FindStatusCondition(mc.Status.Conditions, v1alpha1.ConditionReady)
		if c == nil {
			return false, nil
		}
		cond = *c
		return string(c.Status) == want || (c.Status == metav1.ConditionFalse && c.Reason == want), nil
	})
	t.Logf("MigCluster %s: %s %s: %s", name, cond.Status, cond.Reason, cond.Message)
	return cond
}

// waitDVM waits until a DVM has finished, logging its phases and progress on the way.
func waitDVM(t *testing.T, e *env.Env, name string) *v1alpha1.DirectVolumeMigration {
	t.Helper()
	dvm := &v1alpha1.DirectVolumeMigration{}
	last := ""
	poll(t, "DirectVolumeMigration "+name+" finished", 5*time.Minute, func(ctx context.Context) (bool, error) {
		if err := get(ctx, e.Target, "DirectVolumeMigration", ns, name, dvm); err != nil {
			return false, err
		}
		st := dvm.Status
		if now := fmt.Sprintf("%s %s %s", st.Phase, st.Progress, st.Message); now != last {
			t.Logf("  %s", now)
			last = now
		}
		return st.Phase == v1alpha1.PhaseSucceeded || st.Phase == v1alpha1.PhaseFailed, nil
	})
	return dvm
}

// checkStatus checks what kubectl shows of a migration that succeeded.
func checkStatus(t *testing.T, d *v1alpha1.DirectVolumeMigration) {
	t.Helper()
	st := d.Status
	if st.Progress != "100%" || st.TotalBytes == 0 || st.TransferredBytes != st.TotalBytes || st.StartTimestamp == nil ||
		st.CompletionTimestamp == nil || st.ObservedGeneration != d.Generation {
		t.Errorf("status %+v", st)
	}
	if len(st.Volumes) != 1 || st.Volumes[0].Phase != v1alpha1.PhaseSucceeded || st.Volumes[0].Files == 0 || st.Volumes[0].PVCRef.Name != "data" {
		t.Errorf("volumes %+v", st.Volumes)
	}
	for typ, want := range map[string]metav1.ConditionStatus{"Succeeded": metav1.ConditionTrue, "Running": metav1.ConditionFalse} {
		if c := meta.FindStatusCondition(st.Conditions, typ); c == nil || c.Status != want {
			t.Errorf("condition %s: %+v", typ, c)
		}
	}
	if strings.Contains(st.Message, env.ProxyPassword) {
		t.Errorf("the status shows the proxy password: %s", st.Message)
	}
}

// checkEvents looks for the Events of the DVM's start and success.
func checkEvents(t *testing.T, e *env.Env, name string) {
	t.Helper()
	var reasons []string
	poll(t, "Events of the DVM", 30*time.Second, func(ctx context.Context) (bool, error) {
		list, err := e.Target.Client().EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		reasons = reasons[:0]
		for _, ev := range list.Items {
			if ev.Regarding.Name == name {
				reasons = append(reasons, ev.Type+" "+ev.Reason)
				if strings.Contains(ev.Note, env.ProxyPassword) {
					t.Errorf("an Event shows the proxy password: %s", ev.Note)
				}
			}
		}
		s := strings.Join(reasons, ",")
		return strings.Contains(s, "Normal Started") && strings.Contains(s, "Normal Succeeded") && strings.Contains(s, "Normal Step"), nil
	})
}

// checkMetrics reads the controller's Prometheus metrics.
func checkMetrics(t *testing.T, c *controller) {
	t.Helper()
	code, body := httpGet(t.Context(), "http://"+c.metrics+"/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	if !strings.Contains(body, `ferry_migrations_total{phase="Succeeded"} 1`) {
		t.Errorf("no Succeeded migration in the metrics:\n%s", grep(body, "ferry_"))
	}
	m := regexp.MustCompile(`(?m)^ferry_copied_bytes_total (\S+)$`).FindStringSubmatch(body)
	if n, _ := strconv.ParseFloat(append(m, "", "0")[1], 64); n <= 0 {
		t.Errorf("no copied bytes in the metrics:\n%s", grep(body, "ferry_"))
	}
	if !strings.Contains(body, "controller_runtime_reconcile_total") {
		t.Error("controller-runtime's metrics are missing")
	}
}

func grep(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
