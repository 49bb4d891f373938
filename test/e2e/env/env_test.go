package env_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"

	"github.com/ferrydvm/ferry/internal/kube"
	"github.com/ferrydvm/ferry/internal/testenv"
	"github.com/ferrydvm/ferry/test/e2e/env"
)

const (
	routeHost   = "rx-smoke." + env.Subdomain
	ingressHost = "rx-ingress." + env.Subdomain
)

// TestEnvironment proves the environment: pods run ferry in both clusters, pods reach
// their API server, and a ferry receiver on the target is reachable through a Route and
// an Ingress from the source namespace via squid only, and through ClusterIP, NodePort
// and LoadBalancer Services where each should be.
func TestEnvironment(t *testing.T) {
	e := env.Start(t)
	certs := t.TempDir()
	out, err := exec.Command(e.Ferry, "certs", "generate", "--out", certs,
		"--server-name", routeHost, "--server-name", ingressHost).CombinedOutput()
	if err != nil {
		t.Fatalf("ferry certs generate: %v: %s", err, out)
	}
	for _, s := range []*env.Side{e.Source, e.Target} {
		namespace(t, s, "smoke")
		secretFromDir(t, s, "smoke", "certs", certs)
	}
	proxy := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "proxy"}, StringData: map[string]string{"url": e.ProxyURL}}
	if _, err := e.Source.Client().CoreV1().Secrets("smoke").Create(t.Context(), proxy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("version", func(t *testing.T) {
		for _, s := range []*env.Side{e.Source, e.Target} {
			phase, log := run(t, s, "smoke", ferryPod("version", nil, nil, "version"))
			if phase != corev1.PodSucceeded {
				t.Errorf("%s: ferry version ended %s:\n%s", s.Name, phase, log)
			}
			contains(t, s.Name+": the log of ferry version", log, "ferry")
		}
	})
	t.Run("api-from-pods", func(t *testing.T) { checkAPIRelay(t, e.Source) })

	startReceiver(t, e)
	t.Run("route-through-squid", func(t *testing.T) {
		phase, log := run(t, e.Source, "smoke", probePod("probe-route", routeHost+":443", e.ProxyURL))
		if phase != corev1.PodSucceeded {
			t.Fatalf("probe through squid to the Route ended %s:\n%s", phase, log)
		}
		contains(t, "the probe", log, "server-handshake", "ferry receiver")
	})
	t.Run("route-host-in-hosts-files", func(t *testing.T) {
		for _, ns := range []*testenv.Netns{e.Net.Source, e.Net.Proxy} {
			out, err := ns.Command(t.Context(), "getent", "hosts", routeHost).CombinedOutput()
			if err != nil || !strings.Contains(string(out), e.Net.TargetIP) {
				t.Errorf("getent hosts %s in %s: %v: %s", routeHost, ns.Name, err, out)
			}
		}
	})
	t.Run("route-not-without-squid", func(t *testing.T) {
		phase, log := run(t, e.Source, "smoke", probePod("probe-direct", routeHost+":443", ""))
		if phase != corev1.PodFailed {
			t.Fatalf("a probe without the proxy ended %s: the source reaches the target directly:\n%s", phase, log)
		}
		contains(t, "the probe", log, "FAIL")
	})
	t.Run("ingress-through-squid", func(t *testing.T) {
		createIngress(t, e)
		phase, log := run(t, e.Source, "smoke", probePod("probe-ingress", ingressHost+":443", e.ProxyURL))
		if phase != corev1.PodSucceeded {
			t.Fatalf("probe through squid to the Ingress ended %s:\n%s", phase, log)
		}
	})
	t.Run("clusterip-in-cluster", func(t *testing.T) {
		svc, err := e.Target.Client().CoreV1().Services("smoke").Get(t.Context(), "rx", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pod := probePod("probe-clusterip", svc.Spec.ClusterIP+":443", "", "--server-name", routeHost)
		if phase, log := run(t, e.Target, "smoke", pod); phase != corev1.PodSucceeded {
			t.Fatalf("probe to the ClusterIP ended %s:\n%s", phase, log)
		}
	})
	t.Run("nodeport-and-loadbalancer-from-proxy-zone", func(t *testing.T) {
		for _, typ := range []corev1.ServiceType{corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer} {
			addr := exposeReceiver(t, e, typ)
			probeFrom(t, e, certs, addr)
		}
	})
}

// checkAPIRelay calls the API server at the "kubernetes" Service's cluster IP from inside
// the cluster's namespace, as a pod using in-cluster configuration does.
func checkAPIRelay(t *testing.T, s *env.Side) {
	ca, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Transport: &http.Transport{
		DialContext:     s.Netns.Dial,
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "kubernetes.default.svc"},
	}}
	poll(t, "GET /readyz at 10.96.0.1:443 inside "+s.Name, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://10.96.0.1:443/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+s.Token)
		resp, err := client.Do(req)
		if err != nil {
			t.Logf("GET /readyz: %v", err)
			return false, nil
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && string(body) == "ok", nil
	})
}

// startReceiver runs `ferry serve` on the target behind the Service rx and the Route rx.
func startReceiver(t *testing.T, e *env.Env) {
	t.Helper()
	ctx := t.Context()
	podIP := corev1.EnvVar{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}
	pod := ferryPod("rx", map[string]string{"app": "rx"}, []corev1.EnvVar{podIP},
		"serve", "--listen", "$(POD_IP):2222", "--certs", "/var/run/ferry/certs", "--volume", "data=/var/run/ferry/data")
	pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/var/run/ferry/data"})
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	pod.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(2222)}}}
	cs := e.Target.Client()
	if _, err := cs.CoreV1().Pods("smoke").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create receiver pod: %v", err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "rx"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "rx"},
			Ports:    []corev1.ServicePort{{Name: "data", Port: 443, TargetPort: intstr.FromInt32(2222)}},
		},
	}
	if _, err := cs.CoreV1().Services("smoke").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service: %v", err)
	}
	route := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "route.openshift.io/v1", "kind": "Route",
		"metadata": map[string]any{"name": "rx"},
		"spec": map[string]any{
			"to":   map[string]any{"kind": "Service", "name": "rx"},
			"port": map[string]any{"targetPort": "data"},
			"tls":  map[string]any{"termination": "passthrough"},
		},
	}}
	dyn := dynamic.NewForConfigOrDie(e.Target.RESTConfig())
	if _, err := dyn.Resource(kube.RouteGVR).Namespace("smoke").Create(ctx, route, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create route: %v", err)
	}
	waitReady(t, e.Target, "smoke", "rx")
	poll(t, "the Route admitted with host "+routeHost, func(ctx context.Context) (bool, error) {
		u, err := dyn.Resource(kube.RouteGVR).Namespace("smoke").Get(ctx, "rx", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ingress, _, _ := unstructured.NestedSlice(u.Object, "status", "ingress")
		if len(ingress) != 1 {
			return false, nil
		}
		in := ingress[0].(map[string]any)
		conds, _, _ := unstructured.NestedSlice(in, "conditions")
		return in["host"] == routeHost && len(conds) == 1 && conds[0].(map[string]any)["status"] == "True", nil
	})
}

func createIngress(t *testing.T, e *env.Env) {
	t.Helper()
	prefix := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "rx", Annotations: map[string]string{"nginx.ingress.kubernetes.io/ssl-passthrough": "true"}},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
			Host: ingressHost,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "rx", Port: networkingv1.ServiceBackendPort{Number: 443}}},
			}}}},
		}}},
	}
	cs := e.Target.Client()
	if _, err := cs.NetworkingV1().Ingresses("smoke").Create(t.Context(), ing, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ingress: %v", err)
	}
	poll(t, "the Ingress gets the router's address", func(ctx context.Context) (bool, error) {
		got, err := cs.NetworkingV1().Ingresses("smoke").Get(ctx, "rx", metav1.GetOptions{})
		return err == nil && len(got.Status.LoadBalancer.Ingress) == 1 && got.Status.LoadBalancer.Ingress[0].IP == e.Net.TargetIP, err
	})
}

// exposeReceiver creates a Service of the given type for the receiver and returns the
// address the proxy zone reaches it at.
func exposeReceiver(t *testing.T, e *env.Env, typ corev1.ServiceType) string {
	t.Helper()
	cs := e.Target.Client()
	name := "rx-" + map[corev1.ServiceType]string{corev1.ServiceTypeNodePort: "np", corev1.ServiceTypeLoadBalancer: "lb"}[typ]
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: map[string]string{"app": "rx"},
			Ports:    []corev1.ServicePort{{Name: "data", Port: 443, TargetPort: intstr.FromInt32(2222)}},
		},
	}
	svc, err := cs.CoreV1().Services("smoke").Create(t.Context(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create %s service: %v", typ, err)
	}
	if typ == corev1.ServiceTypeNodePort {
		return net.JoinHostPort(e.Net.TargetIP, fmt.Sprint(svc.Spec.Ports[0].NodePort))
	}
	var addr string
	poll(t, "the LoadBalancer gets an address", func(ctx context.Context) (bool, error) {
		got, err := cs.CoreV1().Services("smoke").Get(ctx, name, metav1.GetOptions{})
		if err != nil || len(got.Status.LoadBalancer.Ingress) == 0 {
			return false, err
		}
		addr = net.JoinHostPort(got.Status.LoadBalancer.Ingress[0].IP, "443")
		return true, nil
	})
	return addr
}

// probeFrom runs ferry probe against addr from the proxy namespace, a neighbour of the
// target's network.
func probeFrom(t *testing.T, e *env.Env, certs, addr string) {
	t.Helper()
	var out []byte
	poll(t, "ferry probe "+addr+" from the proxy zone", func(ctx context.Context) (bool, error) {
		var err error
		out, err = e.Net.Proxy.Command(ctx, e.Ferry, "probe", "--connect", addr, "--server-name", routeHost,
			"--certs", certs).CombinedOutput()
		return err == nil, nil
	})
	contains(t, "the probe of "+addr, string(out), "ferry receiver")
}

// probePod is a pod that probes the data path to addr, through proxy when not empty.
// The proxy URL, credentials included, reaches the pod from a Secret.
func probePod(name, addr, proxy string, extra ...string) *corev1.Pod {
	args := append([]string{"probe", "--connect", addr, "--certs", "/var/run/ferry/certs"}, extra...)
	var envs []corev1.EnvVar
	if proxy != "" {
		args = append(args, "--proxy", "$(PROXY)")
		envs = append(envs, corev1.EnvVar{Name: "PROXY", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "proxy"}, Key: "url"},
		}})
	}
	return ferryPod(name, nil, envs, args...)
}
