package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	authv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Names of the API-path checks, in order.
const (
	APIReachable = "api-reachable"
	APIAuth      = "api-auth"
	APIUpgrade   = "api-upgrade"
)

// APITarget is an API server and a pod to try exec on.
type APITarget struct {
	Config *rest.Config
	// Via describes the proxy a request to the server takes ("direct", or the masked proxy
	// URL and where it came from).
	Via       string
	Namespace string
	Pod       string
}

// APIPath checks that the API server answers through the proxies that apply, that the
// credentials are accepted and may exec in the pod, and that an exec request reaches the API
// server with its Upgrade header as SPDY (client-go falls back to it from WebSocket, and
// SPDY-only programs such as MTC's controller use nothing else; see upgradeCheck).
// Nothing ferry does needs exec; the check warns about the tools and steps that do.
func APIPath(ctx context.Context, t APITarget) *Report {
	r := newReport(APIReachable, APIAuth, APIUpgrade)
	cs, err := kubernetes.NewForConfig(t.Config)
	if err != nil {
		r.fail(APIReachable, "client configuration: "+err.Error(), "check the kubeconfig", false)
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := serverVersion(ctx, cs)
	if err != nil && !apierrors.IsUnauthorized(err) && !apierrors.IsForbidden(err) {
		r.fail(APIReachable, fmt.Sprintf("GET %s/version (%s): %v", t.Config.Host, t.Via, err), reachHint(err), false)
		return r
	}
	if err != nil {
		r.pass(APIReachable, fmt.Sprintf("%s answers (%s)", t.Config.Host, t.Via))
	} else {
		r.pass(APIReachable, fmt.Sprintf("%s answers, Kubernetes %s (%s)", t.Config.Host, v.GitVersion, t.Via))
	}
	if !authCheck(ctx, r, cs, t) {
		return r
	}
	upgradeCheck(ctx, r, t)
	return r
}

// serverVersion is Discovery().ServerVersion() bounded by ctx.
func serverVersion(ctx context.Context, cs kubernetes.Interface) (*version.Info, error) {
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return nil, err
	}
	var info version.Info
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, fmt.Errorf("read the server's version: %w", err)
	}
	return &info, nil
}

func reachHint(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Proxy Authentication Required"):
		return "the proxy for API traffic refused the credentials (407): check the user and password in HTTPS_PROXY or the MigrationController's https_proxy"
	case strings.Contains(msg, "proxyconnect"):
		return "the proxy for API traffic cannot be reached or refused the tunnel: check HTTPS_PROXY / the MigrationController's https_proxy"
	case strings.Contains(msg, "certificate"):
		return "the API server's certificate is not trusted: a TLS-inspecting proxy may be in the way (add the API host to NO_PROXY), or the kubeconfig's CA is wrong"
	case strings.Contains(msg, "refused"), strings.Contains(msg, "no route"), strings.Contains(msg, "timeout"):
		return "the API server is not reachable from here: a proxy may be needed (HTTPS_PROXY), or NO_PROXY sends this host around the proxy"
	}
	return ""
}

func authCheck(ctx context.Context, r *Report, cs kubernetes.Interface, t APITarget) bool {
	if _, err := cs.CoreV1().Pods(t.Namespace).Get(ctx, t.Pod, metav1.GetOptions{}); err != nil {
		switch {
		case apierrors.IsUnauthorized(err):
			r.fail(APIAuth, "the API server refused the credentials (401)", "the token or certificate in the kubeconfig is wrong or expired: log in again", false)
		case apierrors.IsNotFound(err):
			r.fail(APIAuth, fmt.Sprintf("pod %s/%s does not exist", t.Namespace, t.Pod), "give --pod NAMESPACE/NAME of a running pod", false)
		default:
			r.fail(APIAuth, fmt.Sprintf("get pod %s/%s: %v", t.Namespace, t.Pod, err), "", false)
		}
		return false
	}
	review := &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{
		Namespace: t.Namespace, Verb: "create", Resource: "pods", Subresource: "exec", Name: t.Pod,
	}}}
	res, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		r.fail(APIAuth, "ask whether exec is allowed: "+err.Error(), "", false)
		return false
	}
	if !res.Status.Allowed {
		r.fail(APIAuth, fmt.Sprintf("credentials accepted, but they may not exec in pod %s/%s", t.Namespace, t.Pod), "grant create on pods/exec in that namespace (ferry itself does not need it)", false)
		return false
	}
	r.pass(APIAuth, fmt.Sprintf("credentials accepted; exec allowed in pod %s/%s", t.Namespace, t.Pod))
	return true
}
