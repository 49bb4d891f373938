package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrydvm/ferry/api/v1alpha1"
)

func TestMigClusterReady(t *testing.T) {
	tests := []struct {
		name    string
		cluster func(*v1alpha1.MigCluster)
		answer  error
		status  metav1.ConditionStatus
		reason  string
		message []string
	}{
		{"remote answers", nil, nil, metav1.ConditionTrue, ReasonConnected, []string{"https://api.source.example.com:6443", "v1.37.2"}},
		{"host cluster", func(mc *v1alpha1.MigCluster) { mc.Spec = v1alpha1.MigClusterSpec{IsHostCluster: true} }, nil, metav1.ConditionTrue, ReasonConnected, []string{"host cluster"}},
		{"refused token", nil, apierrors.NewUnauthorized("Unauthorized"), metav1.ConditionFalse, ReasonUnauthorized, []string{"https://api.source.example.com:6443", "refused the token", "saToken"}},
		{"unreachable", nil, errors.New("dial tcp 10.1.1.1:6443: connection refused"), metav1.ConditionFalse, ReasonUnreachable, []string{"https://api.source.example.com:6443", "connection refused"}},
		{"no secret", func(mc *v1alpha1.MigCluster) { mc.Spec.ServiceAccountSecretRef.Name = "missing" }, nil, metav1.ConditionFalse, ReasonSecretNotFound, []string{"openshift-config/missing"}},
		{"no token in the secret", func(mc *v1alpha1.MigCluster) { mc.Spec.ServiceAccountSecretRef.Name = "empty" }, nil, metav1.ConditionFalse, ReasonTokenMissing, []string{"saToken", "https://api.source.example.com:6443"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mc := sourceCluster()
			if tt.cluster != nil {
				tt.cluster(mc)
			}
			empty := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "empty", Namespace: "openshift-config"}, Data: map[string][]byte{"token": []byte(token)}}
			f := newFixture(t, nil, mc, empty)
			var seen *rest.Config
			r := &MigClusterReconciler{Client: f.client, Secrets: f.client, Dynamic: f.dynamic, Host: &rest.Config{Host: "https://host:6443"},
				Namespace: ns, Recorder: f.events,
				Version: func(_ context.Context, cfg *rest.Config) (string, error) { seen = cfg; return "v1.37.2", tt.answer }}
			res, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(mc)})
			if err != nil {
				t.Fatal(err)
			}
			if res.RequeueAfter == 0 {
				t.Error("the cluster is not checked again")
			}
			var got v1alpha1.MigCluster
			if err := f.client.Get(t.Context(), client.ObjectKeyFromObject(mc), &got); err != nil {
				t.Fatal(err)
			}
			c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
			if c == nil || c.Status != tt.status || c.Reason != tt.reason {
				t.Fatalf("Ready condition %+v, want %s %s", c, tt.status, tt.reason)
			}
			for _, w := range tt.message {
				if !strings.Contains(c.Message, w) {
					t.Errorf("message %q does not say %q", c.Message, w)
				}
			}
			evs := drain(f.events)
			for _, text := range append(evs, c.Message) {
				if strings.Contains(text, token) {
					t.Errorf("the token leaked: %q", text)
				}
			}
			if len(evs) != 1 || !strings.Contains(evs[0], tt.reason) {
				t.Errorf("events %q, want one with reason %s", evs, tt.reason)
			}
			if seen != nil && !mc.Spec.IsHostCluster && (seen.BearerToken != token || string(seen.CAData) != string(mc.Spec.CABundle)) {
				t.Errorf("the check used token %q and CA %q", seen.BearerToken, seen.CAData)
			}
			// A second check with the same outcome writes nothing and records no Event.
			if _, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(mc)}); err != nil {
				t.Fatal(err)
			}
			if evs := drain(f.events); len(evs) != 0 {
				t.Errorf("a repeated check recorded %q", evs)
			}
		})
	}
}

func TestClusterConfigProxyAndInsecure(t *testing.T) {
	f := newFixture(t, migrationController(t, "  https_proxy: http://api-proxy.corp:3128\n  no_proxy: .internal\n"))
	s, err := readSettings(t.Context(), f.dynamic, ns, map[string]string{"HTTPS_PROXY": "http://env-proxy:3128"})
	if err != nil {
		t.Fatal(err)
	}
	mc := sourceCluster()
	mc.Spec.Insecure = true
	cfg, err := clusterConfig(t.Context(), f.client, &rest.Config{}, mc, s.apiProxy())
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Insecure || cfg.CAData != nil {
		t.Errorf("insecure: Insecure=%v CAData=%q (client-go refuses both)", cfg.Insecure, cfg.CAData)
	}
	for target, want := range map[string]string{"https://api.source.example.com:6443": "api-proxy.corp:3128", "https://api.internal:6443": ""} {
		u, _ := url.Parse(target)
		p, err := cfg.Proxy(&http.Request{URL: u})
		if err != nil {
			t.Fatal(err)
		}
		if got := ""; p != nil {
			got = p.Host
			if got != want {
				t.Errorf("proxy for %s = %s, want %s", target, got, want)
			}
		} else if want != "" {
			t.Errorf("no proxy for %s, want %s", target, want)
		}
	}
}

func TestDiscovery(t *testing.T) {
	for _, routes := range []bool{true, false} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Path == "/version":
				fmt.Fprint(w, `{"major":"1","minor":"37","gitVersion":"v1.37.2"}`)
			case r.URL.Path == "/apis/route.openshift.io/v1" && routes:
				fmt.Fprint(w, `{"kind":"APIResourceList","groupVersion":"route.openshift.io/v1","resources":[{"name":"routes","namespaced":true,"kind":"Route","verbs":["get"]}]}`)
			default:
				http.NotFound(w, r)
			}
		}))
		cfg := &rest.Config{Host: srv.URL}
		got, err := servesRoutes(t.Context(), cfg)
		if err != nil || got != routes {
			t.Errorf("servesRoutes = %v, %v; want %v", got, err, routes)
		}
		if v, err := serverVersion(t.Context(), cfg); err != nil || v != "v1.37.2" {
			t.Errorf("serverVersion = %q, %v", v, err)
		}
		srv.Close()
	}
}
