package controller

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/config"
)

// settings is what the MigrationController and its surroundings say about migrations.
type settings struct {
	// Spec is the MigrationController's spec; the zero spec when there is none.
	Spec      v1alpha1.MigrationControllerSpec
	Effective *config.Effective
}

// readSettings reads the MigrationController of namespace (absent: every default), the
// cluster Proxy and ClusterVersion of the host cluster, and env, and resolves them.
func readSettings(ctx context.Context, dc dynamic.Interface, namespace string, env map[string]string) (*settings, error) {
	in := config.Inputs{Env: env}
	if err := config.ReadCluster(ctx, dc, namespace, &in); err != nil {
		return nil, err
	}
	e, err := config.Resolve(in)
	if err != nil {
		return nil, err
	}
	for _, u := range e.Cluster.Unreadable {
		if _, said := unreadableSaid.LoadOrStore(u, true); !said {
			log.FromContext(ctx).Info("cannot read a cluster object: treated as absent", "object", u.Object, "reason", u.Reason)
		}
	}
	s := &settings{Effective: e}
	if in.Controller != nil {
		s.Spec = in.Controller.Spec
	}
	return s, nil
}

// unreadableSaid holds the unreadable objects already logged: once per process is enough,
// not once per reconcile.
var unreadableSaid sync.Map

// apiProxy is the proxy selection for requests to a remote API server, as rest.Config
// wants it.
func (s *settings) apiProxy() func(*http.Request) (*url.URL, error) {
	pick := s.Effective.ProxyFunc()
	return func(r *http.Request) (*url.URL, error) { return pick(r.URL) }
}

// clusterError is why a MigCluster cannot be used, with the condition reason for it.
type clusterError struct {
	Reason string
	Err    error
}

func (e *clusterError) Error() string { return e.Err.Error() }
func (e *clusterError) Unwrap() error { return e.Err }

// Reasons of a MigCluster's Ready condition.
const (
	ReasonConnected            = "Connected"
	ReasonInvalidSpec          = "InvalidSpec"
	ReasonSecretNotFound       = "SecretNotFound"
	ReasonTokenMissing         = "TokenMissing"
	ReasonInvalidConfiguration = "InvalidConfiguration"
	ReasonUnauthorized         = "Unauthorized"
	ReasonUnreachable          = "Unreachable"
)

// clusterConfig builds the rest.Config of a MigCluster: host's for the host cluster;
// otherwise its URL, the token of the Secret it names (read with r, which should not be
// a cache of every Secret), its CA bundle or insecure, and proxy for the requests.
func clusterConfig(ctx context.Context, r client.Reader, host *rest.Config, mc *v1alpha1.MigCluster, proxy func(*http.Request) (*url.URL, error)) (*rest.Config, error) {
	if mc.Spec.IsHostCluster {
		return rest.CopyConfig(host), nil
	}
	sp := mc.Spec
	if !strings.HasPrefix(sp.URL, "https://") && !strings.HasPrefix(sp.URL, "http://") {
		return nil, &clusterError{ReasonInvalidSpec, fmt.Errorf("spec.url %q: want the API server's address, https://HOST:PORT", sp.URL)}
	}
	if sp.ServiceAccountSecretRef == nil || sp.ServiceAccountSecretRef.Name == "" {
		return nil, &clusterError{ReasonInvalidSpec, fmt.Errorf("spec.serviceAccountSecretRef is not set: name the Secret whose key %s holds a token for %s", v1alpha1.SATokenKey, sp.URL)}
	}
	ref := types.NamespacedName{Namespace: sp.ServiceAccountSecretRef.Namespace, Name: sp.ServiceAccountSecretRef.Name}
	if ref.Namespace == "" {
		ref.Namespace = mc.Namespace
	}
	var sec corev1.Secret
	if err := r.Get(ctx, ref, &sec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &clusterError{ReasonSecretNotFound, fmt.Errorf("Secret %s (spec.serviceAccountSecretRef) does not exist", ref)}
		}
		return nil, &clusterError{ReasonSecretNotFound, fmt.Errorf("read Secret %s: %w", ref, err)}
	}
	token := strings.TrimSpace(string(sec.Data[v1alpha1.SATokenKey]))
	if token == "" {
		return nil, &clusterError{ReasonTokenMissing, fmt.Errorf("Secret %s has no key %s: put a service account token for %s there", ref, v1alpha1.SATokenKey, sp.URL)}
	}
	cfg := &rest.Config{Host: sp.URL, BearerToken: token, Proxy: proxy, UserAgent: "ferry-controller"}
	if sp.Insecure {
		cfg.Insecure = true // client-go refuses a CA together with insecure
	} else {
		cfg.CAData = sp.CABundle
	}
	return cfg, nil
}
