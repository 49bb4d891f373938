package probe

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authorization/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// apiServer is how the fake API server of TestAPIPathAuth behaves.
type apiServer struct {
	unauthorized bool   // every request but /version answers 401
	pod          string // the one pod in namespace ns
	execAllowed  bool   // what a SelfSubjectAccessReview answers
}

// fakeAuthAPI serves /version, GET of pod s.pod in namespace ns, SelfSubjectAccessReviews
// and exec (a 101), as the API server does, in JSON.
func fakeAuthAPI(t *testing.T, s apiServer) *rest.Config {
	t.Helper()
	writeJSON := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const podsPath = "/api/v1/namespaces/ns/pods/"
		switch {
		case r.URL.Path == "/version":
			writeJSON(w, http.StatusOK, map[string]string{"gitVersion": "v1.37.0"})
		case s.unauthorized:
			writeJSON(w, http.StatusUnauthorized, map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure",
				"message": "Unauthorized", "reason": "Unauthorized", "code": 401})
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, podsPath) && !strings.Contains(r.URL.Path[len(podsPath):], "/"):
			name := r.URL.Path[len(podsPath):]
			if name != s.pod {
				writeJSON(w, http.StatusNotFound, map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure",
					"message": `pods "` + name + `" not found`, "reason": "NotFound", "details": map[string]string{"name": name, "kind": "pods"}, "code": 404})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"kind": "Pod", "apiVersion": "v1", "metadata": map[string]string{"name": name, "namespace": "ns"}})
		case r.Method == http.MethodPost && r.URL.Path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
			// client-go sends protobuf or JSON, depending on its version and settings.
			body, _ := io.ReadAll(r.Body)
			obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, nil)
			review, ok := obj.(*authv1.SelfSubjectAccessReview)
			if err != nil || !ok || review.Spec.ResourceAttributes == nil {
				t.Errorf("SelfSubjectAccessReview: %v (%T)", err, obj)
				writeJSON(w, http.StatusBadRequest, nil)
				return
			}
			if a := review.Spec.ResourceAttributes; a.Verb != "create" || a.Resource != "pods" || a.Subresource != "exec" || a.Namespace != "ns" || a.Name != s.pod {
				t.Errorf("the review asks about %+v, not create pods/exec of ns/%s", a, s.pod)
			}
			review.Status.Allowed = s.execAllowed
			review.APIVersion, review.Kind = "authorization.k8s.io/v1", "SelfSubjectAccessReview"
			writeJSON(w, http.StatusCreated, review)
		case strings.HasPrefix(r.URL.Path, podsPath) && strings.HasSuffix(r.URL.Path, "/exec"):
			switchProtocols(t, w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
}

// api-auth fails on refused credentials, a pod that does not exist, and credentials that
// may not exec, each with what to do; the upgrade check is skipped after it fails.
func TestAPIPathAuth(t *testing.T) {
	tests := []struct {
		name     string
		server   apiServer
		pod      string
		statuses string
		detail   []string
		hint     string
	}{
		{"credentials refused", apiServer{unauthorized: true, pod: "db-0", execAllowed: true}, "db-0",
			"api-reachable=pass api-auth=fail api-upgrade=skip",
			[]string{"refused the credentials (401)"}, "token or certificate in the kubeconfig is wrong or expired"},
		{"pod not found", apiServer{pod: "db-0", execAllowed: true}, "db-1",
			"api-reachable=pass api-auth=fail api-upgrade=skip",
			[]string{"pod ns/db-1 does not exist"}, "--pod NAMESPACE/NAME"},
		{"exec not allowed", apiServer{pod: "db-0"}, "db-0",
			"api-reachable=pass api-auth=fail api-upgrade=skip",
			[]string{"credentials accepted, but they may not exec in pod ns/db-0"}, "grant create on pods/exec"},
		{"exec allowed", apiServer{pod: "db-0", execAllowed: true}, "db-0",
			"api-reachable=pass api-auth=pass api-upgrade=pass",
			[]string{"exec allowed in pod ns/db-0"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a safety net
			defer cancel()
			r := APIPath(ctx, APITarget{Config: fakeAuthAPI(t, tt.server), Via: "direct", Namespace: "ns", Pod: tt.pod})
			var got []string
			for _, c := range r.Checks {
				got = append(got, c.Name+"="+c.Status)
			}
			if strings.Join(got, " ") != tt.statuses {
				t.Fatalf("checks %s; want %s\n%+v", strings.Join(got, " "), tt.statuses, r.Checks)
			}
			auth := r.Checks[1]
			for _, w := range tt.detail {
				if !strings.Contains(auth.Detail, w) {
					t.Errorf("api-auth detail lacks %q: %s", w, auth.Detail)
				}
			}
			if !strings.Contains(auth.Hint, tt.hint) || (tt.hint == "") != (auth.Hint == "") {
				t.Errorf("api-auth hint %q; want one with %q", auth.Hint, tt.hint)
			}
		})
	}
}
