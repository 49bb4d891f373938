package probe

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	authv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
// server with its Upgrade header (WebSocket and SPDY). Nothing ferry does needs exec; the
// check warns about the tools and steps that do.
func APIPath(ctx context.Context, t APITarget) *Report {
	r := &Report{}
	cs, err := kubernetes.NewForConfig(t.Config)
	if err != nil {
		r.add(APIReachable, Fail, "client configuration: "+err.Error(), "check the kubeconfig")
		r.skipRest(APIAuth, APIUpgrade)
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := cs.Discovery().ServerVersion()
	if err != nil && !apierrors.IsUnauthorized(err) && !apierrors.IsForbidden(err) {
		r.add(APIReachable, Fail, fmt.Sprintf("GET %s/version (%s): %v", t.Config.Host, t.Via, err), reachHint(err))
		r.skipRest(APIAuth, APIUpgrade)
		return r
	}
	if err != nil {
		r.add(APIReachable, Pass, fmt.Sprintf("%s answers (%s)", t.Config.Host, t.Via), "")
	} else {
		r.add(APIReachable, Pass, fmt.Sprintf("%s answers, Kubernetes %s (%s)", t.Config.Host, v.GitVersion, t.Via), "")
	}
	if !authCheck(ctx, r, cs, t) {
		r.skipRest(APIUpgrade)
		return r
	}
	upgradeCheck(ctx, r, t)
	return r
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
			r.add(APIAuth, Fail, "the API server refused the credentials (401)", "the token or certificate in the kubeconfig is wrong or expired: log in again")
		case apierrors.IsNotFound(err):
			r.add(APIAuth, Fail, fmt.Sprintf("pod %s/%s does not exist", t.Namespace, t.Pod), "give --pod NAMESPACE/NAME of a running pod")
		default:
			r.add(APIAuth, Fail, fmt.Sprintf("get pod %s/%s: %v", t.Namespace, t.Pod, err), "")
		}
		return false
	}
	review := &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{
		Namespace: t.Namespace, Verb: "create", Resource: "pods", Subresource: "exec", Name: t.Pod,
	}}}
	res, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		r.add(APIAuth, Fail, "ask whether exec is allowed: "+err.Error(), "")
		return false
	}
	if !res.Status.Allowed {
		r.add(APIAuth, Fail, fmt.Sprintf("credentials accepted, but they may not exec in pod %s/%s", t.Namespace, t.Pod), "grant create on pods/exec in that namespace (ferry itself does not need it)")
		return false
	}
	r.add(APIAuth, Pass, fmt.Sprintf("credentials accepted; exec allowed in pod %s/%s", t.Namespace, t.Pod), "")
	return true
}

// upgradeCheck sends exec requests with each upgrade protocol and reads the answer.
func upgradeCheck(ctx context.Context, r *Report, t APITarget) {
	var details []string
	status, hint := Pass, ""
	for _, proto := range []string{"websocket", "SPDY/3.1"} {
		code, body, err := tryUpgrade(ctx, t, proto)
		switch {
		case err != nil:
			details = append(details, fmt.Sprintf("%s: %v", proto, err))
			status = Fail
		case code == http.StatusSwitchingProtocols:
			details = append(details, proto+": 101 Switching Protocols")
		case strings.Contains(body, "Upgrade request required"):
			details = append(details, fmt.Sprintf("%s: %d Upgrade request required", proto, code))
			status = Fail
			hint = "an L7 proxy, load balancer or TLS-inspecting firewall between here and the API server drops the Upgrade and Connection headers. That breaks exec, attach, port-forward and every tool built on them (MTC runs exec in each cutover); ferry needs none of them. Fix: pass the headers through (nginx: proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\"), or put the API host in NO_PROXY"
		default:
			details = append(details, fmt.Sprintf("%s: the upgrade reached the API server, which answered %d from beyond it (%s)", proto, code, firstLine(body)))
		}
	}
	r.add(APIUpgrade, status, strings.Join(details, "; "), hint)
}

// tryUpgrade sends one exec request asking for an upgrade and returns the status and the
// start of the body.
func tryUpgrade(ctx context.Context, t APITarget, proto string) (int, string, error) {
	cfg := rest.CopyConfig(t.Config)
	cfg.TLSClientConfig.NextProtos = []string{"http/1.1"} // upgrades need HTTP/1.1
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return 0, "", err
	}
	u, err := url.Parse(strings.TrimSuffix(t.Config.Host, "/") + fmt.Sprintf("/api/v1/namespaces/%s/pods/%s/exec", t.Namespace, t.Pod))
	if err != nil {
		return 0, "", err
	}
	u.RawQuery = "command=true&stdout=true&stderr=true"
	method := http.MethodPost
	if proto == "websocket" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", proto)
	if proto == "websocket" {
		key := make([]byte, 16)
		rand.Read(key)
		req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(key))
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Protocol", "v5.channel.k8s.io")
	} else {
		req.Header.Set("X-Stream-Protocol-Version", "v4.channel.k8s.io")
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp.StatusCode, "", nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil && !errors.Is(err, io.EOF) {
		return resp.StatusCode, "", nil
	}
	return resp.StatusCode, string(body), nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}
