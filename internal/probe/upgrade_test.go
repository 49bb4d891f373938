package probe

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

// answer is how the fake server answers an exec request that carries its Upgrade header.
type answer struct {
	code        int
	contentType string
	server      string
	body        string
}

func status(code int, message string) answer {
	body, _ := json.Marshal(map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": message, "code": code})
	return answer{code: code, contentType: "application/json", body: string(body)}
}

const nginx403 = "<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n<center><h1>403 Forbidden</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"

// fakeAPI answers exec requests for pod P with answers[P], 101 when the answer's code is
// 101 and the request asked for an upgrade. An answer keyed "P/websocket" or
// "P/SPDY/3.1" applies to that protocol only.
func fakeAPI(t *testing.T, answers map[string]answer) *rest.Config {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(r.URL.Path, "/") // /api/v1/namespaces/NS/pods/P/exec
		if len(parts) != 8 || parts[7] != "exec" {
			http.NotFound(w, r)
			return
		}
		a, ok := answers[parts[6]+"/"+r.Header.Get("Upgrade")]
		if !ok {
			a = answers[parts[6]]
		}
		if a.code == http.StatusSwitchingProtocols {
			switchProtocols(t, w, r)
			return
		}
		if a.server != "" {
			w.Header().Set("Server", a.server)
		}
		if a.contentType != "" {
			w.Header().Set("Content-Type", a.contentType)
		}
		w.WriteHeader(a.code)
		w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
}

// switchProtocols answers 101 only to a request that kept its Upgrade and Connection
// headers, as the API server does.
func switchProtocols(t *testing.T, w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") == "" || !strings.EqualFold(r.Header.Get("Connection"), "Upgrade") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(status(400, "Upgrade request required").body))
		return
	}
	c, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: " + r.Header.Get("Upgrade") + "\r\nConnection: Upgrade\r\n\r\n")
	buf.Flush()
}

func TestUpgradeCheck(t *testing.T) {
	tests := []struct {
		pod     string
		answers map[string]answer
		status  string
		detail  []string
		hint    string
	}{
		{pod: "switched", answers: map[string]answer{"switched": {code: 101}},
			status: Pass, detail: []string{"WebSocket: 101 Switching Protocols; SPDY: 101 Switching Protocols"}},
		{pod: "kubelet-down", answers: map[string]answer{"kubelet-down": status(500, "error dialing backend: dial tcp 127.0.0.1:10250: connect: connection refused")},
			status: Pass, detail: []string{"from beyond it", "error dialing backend"}},
		{pod: "kubelet-text", answers: map[string]answer{"kubelet-text": {code: 404, contentType: "text/plain; charset=utf-8", body: "pod does not exist\n"}},
			status: Pass, detail: []string{"answered 404 from beyond it (pod does not exist)"}},
		{pod: "kubelet-container", answers: map[string]answer{"kubelet-container": {code: 404, contentType: "text/plain; charset=utf-8", body: `container not found ("app")`}},
			status: Pass, detail: []string{"answered 404 from beyond it", "container not found"}},
		{pod: "kubelet-forbidden", answers: map[string]answer{"kubelet-forbidden": {code: 403, contentType: "text/plain; charset=utf-8", body: "Forbidden (user=kube-apiserver-kubelet-client, verb=create, resource=nodes, subresource(s)=[proxy exec])\n"}},
			status: Pass, detail: []string{"answered 403 from beyond it (Forbidden (user=kube-apiserver-kubelet-client"}},
		{pod: "ws-then-spdy", answers: map[string]answer{"ws-then-spdy/websocket": {code: 101}, "ws-then-spdy": status(500, "error dialing backend: dial tcp: i/o timeout")},
			status: Pass, detail: []string{"WebSocket: 101", "SPDY: the upgrade reached the API server"}},
		// client-go falls back from WebSocket to SPDY, so SPDY getting through is enough; SPDY
		// failing is a failure even when WebSocket works (SPDY-only programs break). The detail
		// names both results.
		{pod: "spdy-only", answers: map[string]answer{"spdy-only/SPDY/3.1": {code: 101}, "spdy-only": status(400, "Upgrade request required")},
			status: Pass, detail: []string{"WebSocket: 400 Upgrade request required; SPDY: 101 Switching Protocols (client-go falls back to SPDY)"}},
		{pod: "websocket-only", answers: map[string]answer{"websocket-only/websocket": {code: 101}, "websocket-only": status(400, "Upgrade request required")},
			status: Fail, detail: []string{"WebSocket: 101 Switching Protocols; SPDY: 400 Upgrade request required", "programs that use only SPDY, such as MTC's controller, fail"}, hint: "drops the Upgrade and Connection headers"},
		{pod: "dropped", answers: map[string]answer{"dropped": status(400, "Upgrade request required")},
			status: Fail, detail: []string{"WebSocket: 400 Upgrade request required", "SPDY: 400 Upgrade request required"}, hint: "drops the Upgrade and Connection headers"},
		// Both fail: the hint is the worse answer's, a dropped header before a front's page.
		{pod: "front-then-dropped", answers: map[string]answer{"front-then-dropped/websocket": {code: 403, contentType: "text/html", server: "nginx/1.22.1", body: nginx403}, "front-then-dropped": status(400, "Upgrade request required")},
			status: Fail, detail: []string{"WebSocket: 403 Forbidden from nginx/1.22.1", "SPDY: 400 Upgrade request required"}, hint: "drops the Upgrade and Connection headers"},
		{pod: "rbac-then-front", answers: map[string]answer{"rbac-then-front/websocket": status(403, `pods "p" is forbidden: User "dev" cannot create resource "pods/exec"`), "rbac-then-front": {code: 502, contentType: "text/html", body: "<html><head><title>502 Bad Gateway</title></head></html>"}},
			status: Fail, detail: []string{"WebSocket: the API server forbids it (403)", "SPDY: 502 Bad Gateway from something in between"}, hint: "could not forward the exec request"},
		// "Upgrade request required" in a body that is not a Status (a front relaying the
		// API server's or the kubelet's answer as text) is the header-dropped case too.
		{pod: "dropped-text", answers: map[string]answer{"dropped-text": {code: 400, contentType: "text/plain", body: "Upgrade request required\n"}},
			status: Fail, detail: []string{"WebSocket: 400 Upgrade request required"}, hint: "drops the Upgrade and Connection headers"},
		{pod: "nginx-403", answers: map[string]answer{"nginx-403": {code: 403, contentType: "text/html", server: "nginx/1.22.1", body: nginx403}},
			status: Fail, detail: []string{"403 Forbidden from nginx/1.22.1, not from the API server (text/html: 403 Forbidden)"}, hint: "answered the exec request itself"},
		{pod: "lb-502", answers: map[string]answer{"lb-502": {code: 502, contentType: "text/html", body: "<html><head><title>502 Bad Gateway</title></head></html>"}},
			status: Fail, detail: []string{"502 Bad Gateway from something in between, not from the API server"}, hint: "could not forward the exec request"},
		{pod: "gateway-json", answers: map[string]answer{"gateway-json": {code: 403, contentType: "application/json", body: `{"message":"error dialing backend"}`}},
			status: Fail, detail: []string{"403 Forbidden from something in between, not from the API server"}, hint: "answered the exec request itself"},
		{pod: "firewall-text", answers: map[string]answer{"firewall-text": {code: 403, contentType: "text/plain", body: "Access denied by policy\n"}},
			status: Fail, detail: []string{"403 Forbidden from something in between", "text/plain: Access denied by policy"}, hint: "never reached the API server"},
		// Wording that is not only the API server's path to the kubelet: kube-rbac-proxy's
		// refusal (a Go front) and client-go's own client-side words do not pass.
		{pod: "kube-rbac-proxy", answers: map[string]answer{"kube-rbac-proxy": {code: 403, contentType: "text/plain; charset=utf-8", body: "Forbidden (user=dev, verb=create, resource=pods, subresource=exec)\n"}},
			status: Fail, detail: []string{"403 Forbidden from something in between", "Forbidden (user=dev"}, hint: "never reached the API server"},
		{pod: "client-words", answers: map[string]answer{"client-words": {code: 400, contentType: "text/plain; charset=utf-8", body: "unable to upgrade connection: bad gateway\n"}},
			status: Fail, detail: []string{"400 Bad Request from something in between"}, hint: "never reached the API server"},
		{pod: "rbac", answers: map[string]answer{"rbac": status(403, `pods "rbac" is forbidden: User "dev" cannot create resource "pods/exec" in API group "" in the namespace "ns"`)},
			status: Fail, detail: []string{"the API server forbids it (403)", `cannot create resource "pods/exec"`}, hint: "grant create on pods/exec"},
		{pod: "unauthorized", answers: map[string]answer{"unauthorized": status(401, "Unauthorized")},
			status: Fail, detail: []string{"the API server refused the credentials (401)"}, hint: "wrong or expired"},
		{pod: "no-host", answers: map[string]answer{"no-host": status(400, "pod no-host does not have a host assigned")},
			status: Fail, detail: []string{"the API server answered 400 before its upgrade check: pod no-host does not have a host assigned"}, hint: "does not tell whether the Upgrade header gets through"},
		{pod: "webhook", answers: map[string]answer{"webhook": status(500, `Internal error occurred: failed calling webhook "exec.example.com": dial tcp 10.0.0.1:443: connect: connection refused`)},
			status: Fail, detail: []string{"answered 500 before its upgrade check"}, hint: "does not tell"},
	}
	for _, tt := range tests {
		t.Run(tt.pod, func(t *testing.T) {
			r := newReport(APIUpgrade)
			upgradeCheck(context.Background(), r, APITarget{Config: fakeAPI(t, tt.answers), Namespace: "ns", Pod: tt.pod})
			c := r.Checks[0]
			if c.Name != APIUpgrade || c.Status != tt.status {
				t.Fatalf("%s %s: %s (hint %q); want %s", c.Name, c.Status, c.Detail, c.Hint, tt.status)
			}
			for _, w := range tt.detail {
				if !strings.Contains(c.Detail, w) {
					t.Errorf("detail lacks %q: %s", w, c.Detail)
				}
			}
			if !strings.Contains(c.Hint, tt.hint) || (tt.status == Pass) != (c.Hint == "") {
				t.Errorf("hint %q; want one with %q", c.Hint, tt.hint)
			}
		})
	}
}

// An exec request that cannot be sent at all (nothing listens) fails the check with the
// transport's error.
func TestUpgradeCheckUnreachable(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	host := srv.URL
	srv.Close()
	r := newReport(APIUpgrade)
	upgradeCheck(context.Background(), r, APITarget{Config: &rest.Config{Host: host, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, Namespace: "ns", Pod: "p"})
	if c := r.Checks[0]; c.Status != Fail || !strings.Contains(c.Detail, "connection refused") {
		t.Fatalf("%+v", c)
	}
}

// FuzzJudgeUpgrade: any answer gets a verdict with a detail, a hint exactly when it fails;
// an HTML page (a front's) never passes, nor does any body that says "Upgrade request
// required" (the header was dropped on the way, whoever relays the answer).
func FuzzJudgeUpgrade(f *testing.F) {
	f.Add(101, "", "", []byte(nil))
	f.Add(500, "application/json", "", []byte(status(500, "error dialing backend: dial tcp: connection refused").body))
	f.Add(400, "application/json", "", []byte(status(400, "Upgrade request required").body))
	f.Add(403, "text/html", "nginx/1.22.1", []byte(nginx403))
	f.Add(404, "text/plain; charset=utf-8", "", []byte("pod does not exist\n"))
	f.Add(502, "application/json", "envoy", []byte(`{"kind":"Status","message":"<html>"}`))
	f.Add(400, "text/plain", "", []byte("Upgrade request required\n"))
	f.Add(404, "text/plain", "", []byte("pod does not exist; Upgrade request required"))
	f.Add(500, "application/json", "", []byte(status(500, "error dialing backend: Upgrade request required").body))
	f.Fuzz(func(t *testing.T, code int, contentType, server string, body []byte) {
		a := upgradeAnswer{Code: code, Status: fmt.Sprintf("%d %s", code, http.StatusText(code)), ContentType: contentType, Server: server, Body: body}
		v := judgeUpgrade(a)
		if v.detail == "" || v.ok != (v.hint == "") {
			t.Fatalf("verdict %+v for %+v", v, a)
		}
		if v.ok && code != http.StatusSwitchingProtocols && strings.HasPrefix(strings.TrimSpace(string(body)), "<") {
			t.Fatalf("an HTML page passed: %+v", a)
		}
		if v.ok && strings.Contains(string(body), "Upgrade request required") {
			t.Fatalf("an answer saying the upgrade was required passed: %+v", a)
		}
	})
}
