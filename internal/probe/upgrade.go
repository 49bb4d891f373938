package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"k8s.io/client-go/rest"
)

// upgradeProtocols are asked for in turn, as client-go's fallback executor does: WebSocket
// first, then SPDY. name is how the report calls each.
var upgradeProtocols = []struct{ upgrade, name string }{
	{"websocket", "WebSocket"},
	{"SPDY/3.1", "SPDY"},
}

// upgradeCheck sends an exec request with each upgrade protocol and judges the answers.
// SPDY is what matters most: client-go falls back to it from WebSocket, and programs built
// on its SPDY executor (MTC's controller, kubectl before 1.30) use nothing else. So the
// check passes when SPDY gets through, and fails when it does not, even if WebSocket does
// (load balancers that let WebSocket upgrades through and drop others exist), with the
// hint of the worse answer (a dropped Upgrade header first).
func upgradeCheck(ctx context.Context, r *Report, t APITarget) {
	var (
		details []string
		passed  []string
		worst   verdict
	)
	for _, p := range upgradeProtocols {
		v := verdict{severity: severityUnsent}
		if a, err := tryUpgrade(ctx, t, p.upgrade); err != nil {
			v.detail = err.Error()
		} else {
			v = judgeUpgrade(a)
		}
		details = append(details, p.name+": "+v.detail)
		switch {
		case v.ok:
			passed = append(passed, p.name)
		case worst.detail == "" || v.severity > worst.severity:
			worst = v
		}
	}
	detail := strings.Join(details, "; ")
	switch {
	case len(passed) == len(upgradeProtocols):
		r.pass(APIUpgrade, detail)
	case len(passed) > 0 && passed[0] == "SPDY":
		r.pass(APIUpgrade, detail+" (client-go falls back to SPDY)")
	case len(passed) > 0:
		r.fail(APIUpgrade, detail+" (kubectl 1.30 and later works over WebSocket; programs that use only SPDY, such as MTC's controller, fail)", worst.hint, false)
	default:
		r.fail(APIUpgrade, detail, worst.hint, false)
	}
}

// upgradeAnswer is what came back to an exec request that asked for an upgrade.
type upgradeAnswer struct {
	Code        int
	Status      string // "403 Forbidden"
	ContentType string
	Server      string // the Server header, naming the software that answered, if any
	Body        []byte // the start of the body
}

// verdict is the judgement of one answer. severity orders failures: the worse one's hint
// is the check's.
type verdict struct {
	ok           bool
	detail, hint string
	severity     int
}

// Severities of a failed upgrade, worst last.
const (
	severityUnsent   = iota // the request could not be sent: no answer to judge
	severityAPIEarly        // the API server refused before its upgrade check
	severityFront           // something in between answered instead of the API server
	severityDropped         // the Upgrade header was dropped on the way
)

// Words that only the API server's path to the kubelet produces, after the API server's
// upgrade check passed. In a Status object: its upgrade-aware proxy failing to reach the
// kubelet (k8s.io/apimachinery/pkg/util/proxy upgradeaware.go: "error dialing backend:",
// "error sending request:"). In a Status or plain text: the kubelet's own answer, which
// the API server relays as it came (pkg/kubelet/server: "pod does not exist", and
// "container not found (" from GetExec; its authorizer's "Forbidden (user=...,
// subresource(s)=...)", whose "subresource(s)" kube-rbac-proxy, which copies the older
// "subresource=" wording, does not write). client-go's "unable to upgrade connection" is
// the client's wording, never a server's.
var (
	apiServerBeyondCheck = []string{"error dialing backend:", "error sending request:"}
	kubeletWords         = []string{"pod does not exist", "container not found ("}
)

// kubeletForbidden is the kubelet authorizer's refusal (not kube-rbac-proxy's).
func kubeletForbidden(msg string) bool {
	return strings.HasPrefix(msg, "Forbidden (user=") && strings.Contains(msg, ", subresource(s)=")
}

// upgradeRequired is the answer of an upgrade-aware handler (the API server's, or the
// kubelet's) to a request that lost its Upgrade header. In any body, whoever relays it.
const upgradeRequired = "Upgrade request required"

const (
	upgradeDroppedHint = "an L7 proxy, load balancer or TLS-inspecting firewall between here and the API server drops the Upgrade and Connection headers. That breaks exec, attach, port-forward and every tool built on them (MTC runs exec in each cutover); ferry needs none of them. Fix: pass the headers through (nginx: proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\"), or put the API host in NO_PROXY"
	frontHint          = "a proxy, load balancer or firewall between here and the API server answered the exec request itself, so it never reached the API server. exec, attach and port-forward break behind it (MTC runs exec in each cutover); ferry needs none of them. Fix: have it pass /api/v1/namespaces/*/pods/*/exec with its Upgrade and Connection headers, or bypass it (NO_PROXY)"
	frontGatewayHint   = "a proxy or load balancer between here and the API server could not forward the exec request (a gateway error, not the API server's): it may not support upgraded connections, or cannot reach the API server for them. exec, attach and port-forward break behind it (MTC runs exec in each cutover); ferry needs none of them. Fix: let it pass upgrades to the API server, or bypass it (NO_PROXY)"
	rbacHint           = "the API server forbids this exec: grant create on pods/exec in that namespace, or check the admission policy that refuses it (ferry itself does not need exec)"
	authnHint          = "the API server does not accept these credentials for exec: the kubeconfig's token or certificate is wrong or expired (a front that terminates TLS also drops client certificates)"
	earlyHint          = "the API server refused the request before its upgrade check, so this does not tell whether the Upgrade header gets through: fix what it says, or give --pod a pod that is bound to a node"
)

// judgeUpgrade tells whether the upgrade reached the API server and passed its check:
// a 101, or an error only the API server's path to the kubelet produces, passes; "Upgrade
// request required" in any body fails, whatever else it says; so does anything else, with
// a detail that says what answered.
func judgeUpgrade(a upgradeAnswer) verdict {
	if bytes.Contains(a.Body, []byte(upgradeRequired)) {
		return verdict{detail: fmt.Sprintf("%d %s", a.Code, upgradeRequired), hint: upgradeDroppedHint, severity: severityDropped}
	}
	if a.Code == http.StatusSwitchingProtocols {
		return verdict{ok: true, detail: "101 Switching Protocols"}
	}
	st, isStatus := kubeStatus(a)
	msg := strings.TrimSpace(string(a.Body))
	if isStatus {
		msg = st.Message
	}
	early := func(detail, hint string) verdict {
		return verdict{detail: detail, hint: hint, severity: severityAPIEarly}
	}
	switch {
	case isStatus && containsAny(msg, apiServerBeyondCheck),
		(isStatus || isText(a)) && (containsAny(msg, kubeletWords) || kubeletForbidden(msg)):
		return verdict{ok: true, detail: fmt.Sprintf("the upgrade reached the API server, which answered %d from beyond it (%s)", a.Code, firstLine(msg))}
	case isStatus && a.Code == http.StatusUnauthorized:
		return early(fmt.Sprintf("the API server refused the credentials (401): %s", firstLine(msg)), authnHint)
	case isStatus && a.Code == http.StatusForbidden:
		return early(fmt.Sprintf("the API server forbids it (403): %s", firstLine(msg)), rbacHint)
	case isStatus:
		return early(fmt.Sprintf("the API server answered %d before its upgrade check: %s", a.Code, firstLine(msg)), earlyHint)
	}
	hint := frontHint
	if a.Code == http.StatusBadGateway || a.Code == http.StatusServiceUnavailable || a.Code == http.StatusGatewayTimeout {
		hint = frontGatewayHint
	}
	return verdict{detail: fmt.Sprintf("%s from %s, not from the API server (%s)", a.Status, answeredBy(a), bodySummary(a)), hint: hint, severity: severityFront}
}

// kubeStatus parses a Kubernetes Status object, which only the API server (or a kubelet
// behind it) sends.
func kubeStatus(a upgradeAnswer) (status struct{ Kind, Message string }, ok bool) {
	if !strings.Contains(a.ContentType, "json") {
		return status, false
	}
	if err := json.Unmarshal(a.Body, &status); err != nil {
		return status, false
	}
	return status, status.Kind == "Status"
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// isText: a plain-text body, as the kubelet writes its errors (fronts send HTML pages).
func isText(a upgradeAnswer) bool {
	return strings.HasPrefix(a.ContentType, "text/plain") && !strings.HasPrefix(strings.TrimSpace(string(a.Body)), "<")
}

func answeredBy(a upgradeAnswer) string {
	if a.Server != "" {
		return a.Server
	}
	return "something in between"
}

// bodySummary is the content type and the page title or first line of a body.
func bodySummary(a upgradeAnswer) string {
	ct := a.ContentType
	if ct == "" {
		ct = "no content type"
	}
	body := string(a.Body)
	if _, rest, ok := strings.Cut(body, "<title>"); ok {
		body, _, _ = strings.Cut(rest, "</title>")
	}
	if body = firstLine(body); body == "" {
		return ct + ", empty body"
	}
	return ct + ": " + body
}

// tryUpgrade sends one exec request asking for an upgrade and returns the answer.
func tryUpgrade(ctx context.Context, t APITarget, proto string) (upgradeAnswer, error) {
	cfg := rest.CopyConfig(t.Config)
	cfg.TLSClientConfig.NextProtos = []string{"http/1.1"} // upgrades need HTTP/1.1
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return upgradeAnswer{}, fmt.Errorf("build the transport: %w", err)
	}
	req, err := upgradeRequest(ctx, t, proto)
	if err != nil {
		return upgradeAnswer{}, err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return upgradeAnswer{}, err
	}
	defer resp.Body.Close()
	a := upgradeAnswer{Code: resp.StatusCode, Status: resp.Status, ContentType: resp.Header.Get("Content-Type"), Server: resp.Header.Get("Server")}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		a.Body, _ = io.ReadAll(io.LimitReader(resp.Body, 4096)) // what arrived is enough to judge
	}
	return a, nil
}

// upgradeRequest is an exec request as client-go's executors send it: GET for WebSocket,
// POST for SPDY.
func upgradeRequest(ctx context.Context, t APITarget, proto string) (*http.Request, error) {
	u, err := url.Parse(strings.TrimSuffix(t.Config.Host, "/") + fmt.Sprintf("/api/v1/namespaces/%s/pods/%s/exec", url.PathEscape(t.Namespace), url.PathEscape(t.Pod)))
	if err != nil {
		return nil, fmt.Errorf("exec URL: %w", err)
	}
	u.RawQuery = "command=true&stdout=true&stderr=true"
	method := http.MethodPost
	if proto == "websocket" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("exec request: %w", err)
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
	return req, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	s = strings.TrimSpace(s)
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}
