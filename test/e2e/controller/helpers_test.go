package controller_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/testenv"
	"github.com/ferrydvm/ferry/test/e2e/env"
)

// apply server-side applies objects to a cluster, as `kubectl apply --server-side` does.
func apply(t *testing.T, s *env.Side, objs []*unstructured.Unstructured) {
	t.Helper()
	dc := s.Client().Discovery()
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn := dynamic.NewForConfigOrDie(s.RESTConfig())
	force := true
	first := func(o *unstructured.Unstructured) bool {
		return o.GetKind() == "Namespace" || o.GetKind() == "CustomResourceDefinition"
	}
	objs = append(slices.DeleteFunc(slices.Clone(objs), func(o *unstructured.Unstructured) bool { return !first(o) }),
		slices.DeleteFunc(slices.Clone(objs), first)...)
	for _, o := range objs {
		m, err := mapper.RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
		if err != nil {
			t.Fatalf("%s: map %s: %v", s.Name, o.GroupVersionKind(), err)
		}
		data, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		ri := dyn.Resource(m.Resource).Namespace(o.GetNamespace())
		_, err = ri.Patch(t.Context(), o.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "e2e", Force: &force, FieldValidation: "Strict"})
		if err != nil {
			t.Fatalf("%s: apply %s %s: %v", s.Name, o.GetKind(), o.GetName(), err)
		}
	}
}

// saToken asks the API server for a token of a service account.
func saToken(t *testing.T, s *env.Side, ns, name string) string {
	t.Helper()
	tr, err := s.Client().CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), name,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("%s: token of %s/%s: %v", s.Name, ns, name, err)
	}
	return tr.Status.Token
}

func ptr[T any](v T) *T { return &v }

// kubeconfig writes a kubeconfig for the cluster of s with a bearer token.
func kubeconfig(t *testing.T, s *env.Side, token string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: s.URL, CertificateAuthority: s.CAFile}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "c"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// controller is a running `ferry controller` process.
type controller struct {
	metrics, probes string // base URLs
	log             string // its log file
}

// startController runs `ferry controller` on the host until the test ends (SIGTERM, as
// a Deployment's pod gets, then a kill after 30 seconds) and waits until it is ready.
func startController(t *testing.T, e *env.Env, kubeconfig, namespace string, leaderElect bool) *controller {
	t.Helper()
	c := &controller{
		metrics: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t, nil, "127.0.0.1")),
		probes:  fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t, nil, "127.0.0.1")),
		log:     filepath.Join(t.TempDir(), "controller.log"),
	}
	logf, err := os.Create(c.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(e.Ferry, "controller", "--kubeconfig", kubeconfig, "--namespace", namespace, fmt.Sprintf("--leader-elect=%v", leaderElect),
		"--metrics-bind-address", c.metrics, "--health-probe-bind-address", c.probes, "--image", env.Image)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := testenv.StartCommand(cmd); err != nil {
		t.Fatalf("start ferry controller: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("ferry controller stopped with %v after SIGTERM", err)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Error("ferry controller did not stop within 30s of SIGTERM")
		}
		logf.Close()
		if t.Failed() {
			t.Logf("controller log:\n%s", c.tail(200))
		}
	})
	poll(t, "the controller's /readyz", time.Minute, func(ctx context.Context) (bool, error) {
		select {
		case err := <-exited:
			return false, fmt.Errorf("ferry controller exited: %v\n%s", err, c.tail(50))
		default:
		}
		code, _ := httpGet(ctx, "http://"+c.probes+"/readyz")
		return code == http.StatusOK, nil
	})
	return c
}

// tail is the end of the controller's log.
func (c *controller) tail(lines int) string {
	b, _ := os.ReadFile(c.log)
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

func httpGet(ctx context.Context, url string) (int, string) {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// poll waits for cond, failing the test with what after timeout.
func poll(t *testing.T, what string, timeout time.Duration, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, timeout, true, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// resources are ferry's resources through the dynamic client.
var resources = map[string]string{"MigCluster": "migclusters", "DirectVolumeMigration": "directvolumemigrations", "MigrationController": "migrationcontrollers"}

func ferryResource(s *env.Side, kind, ns string) dynamic.ResourceInterface {
	return dynamic.NewForConfigOrDie(s.RESTConfig()).Resource(v1alpha1.SchemeGroupVersion.WithResource(resources[kind])).Namespace(ns)
}

// create creates one of ferry's resources from its typed form.
func create(t *testing.T, s *env.Side, kind string, obj metav1.Object) {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(v1alpha1.SchemeGroupVersion.WithKind(kind))
	if _, err := ferryResource(s, kind, obj.GetNamespace()).Create(t.Context(), u, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create %s %s: %v", kind, obj.GetName(), err)
	}
}

// get reads one of ferry's resources into its typed form.
func get(ctx context.Context, s *env.Side, kind, ns, name string, into any) error {
	u, err := ferryResource(s, kind, ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into)
}

// indent prefixes every line, for logs inside logs.
func indent(s string) string {
	var b bytes.Buffer
	for _, l := range strings.Split(s, "\n") {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}
