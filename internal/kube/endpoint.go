package kube

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"

	"github.com/ferrydvm/ferry/api/v1alpha1"
)

// RouteGVR is OpenShift's Route resource.
var RouteGVR = schema.GroupVersionResource{Group: "route.openshift.io", Version: "v1", Resource: "routes"}

// ServesRoutes asks a cluster's discovery API whether it serves OpenShift's Routes.
func ServesRoutes(d discovery.DiscoveryInterface) (bool, error) {
	_, err := d.ServerResourcesForGroupVersion(RouteGVR.GroupVersion().String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// expose creates, per target namespace, the receivers' Service and endpoint, and waits
// for the address the senders will dial.
func (m *migration) expose(ctx context.Context) error {
	for i := range m.plan.Receivers {
		rx := &m.plan.Receivers[i]
		m.rep.Step(fmt.Sprintf("exposing the receiver of %s by %s", rx.Namespace, m.spec.Endpoint))
		svc, err := m.spec.Target.Client.CoreV1().Services(rx.Namespace).Create(ctx, m.service(rx.Namespace), metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create the receiver's Service in %s: %w", rx.Namespace, err)
		}
		var host string
		switch m.spec.Endpoint {
		case v1alpha1.EndpointRoute:
			host, err = m.route(ctx, rx.Namespace)
			rx.Address = net.JoinHostPort(host, "443")
		case v1alpha1.EndpointIngress:
			host, err = m.ingress(ctx, rx.Namespace)
			rx.Address = net.JoinHostPort(host, "443")
		case v1alpha1.EndpointLoadBalancer:
			host, err = m.loadBalancer(ctx, svc)
			rx.Address = net.JoinHostPort(host, "443")
		case v1alpha1.EndpointNodePort:
			host, err = m.nodeAddress(ctx)
			rx.Address = net.JoinHostPort(host, strconv.Itoa(int(svc.Spec.Ports[0].NodePort)))
		}
		if err != nil {
			return fmt.Errorf("%s for %s: %w", m.spec.Endpoint, rx.Namespace, err)
		}
		rx.Server = host
		m.rep.Step(fmt.Sprintf("the receiver of %s will answer at %s", rx.Namespace, rx.Address))
	}
	return nil
}

// service selects the receiver of a namespace; its type follows the endpoint.
func (m *migration) service(namespace string) *corev1.Service {
	typ := corev1.ServiceTypeClusterIP
	switch m.spec.Endpoint {
	case v1alpha1.EndpointLoadBalancer:
		typ = corev1.ServiceTypeLoadBalancer
	case v1alpha1.EndpointNodePort:
		typ = corev1.ServiceTypeNodePort
	}
	return &corev1.Service{
		ObjectMeta: meta(m.spec.ID, "receiver", namespace, name(m.spec.ID, "rx")),
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: map[string]string{LabelMigration: m.spec.ID, LabelRole: "receiver"},
			Ports:    []corev1.ServicePort{{Name: "data", Port: 443, TargetPort: intstr.FromString("data")}},
		},
	}
}

// route creates a passthrough Route and waits until the router admits it.
func (m *migration) route(ctx context.Context, namespace string) (string, error) {
	objName := name(m.spec.ID, "rx")
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "route.openshift.io/v1", "kind": "Route",
		"metadata": map[string]any{"name": objName, "namespace": namespace, "labels": toAny(labels(m.spec.ID, "receiver"))},
		"spec": map[string]any{
			"to":   map[string]any{"kind": "Service", "name": objName},
			"port": map[string]any{"targetPort": "data"},
			"tls":  map[string]any{"termination": "passthrough"},
		},
	}}
	ri := m.spec.Target.Dynamic.Resource(RouteGVR).Namespace(namespace)
	if _, err := ri.Create(ctx, u, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("create Route: %w", err)
	}
	var host, why string
	err := m.wait(ctx, func(ctx context.Context) (bool, error) {
		got, err := ri.Get(ctx, objName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		host, why = admitted(got)
		return host != "", nil
	})
	if err != nil {
		return "", fmt.Errorf("Route %s/%s not admitted by a router (%s): %w", namespace, objName, why, err)
	}
	return host, nil
}

// admitted returns the host of a Route a router admitted, or why it is not.
func admitted(u *unstructured.Unstructured) (host, why string) {
	ingress, _, _ := unstructured.NestedSlice(u.Object, "status", "ingress")
	why = "no router has reported on it"
	for _, in := range ingress {
		in, _ := in.(map[string]any)
		conds, _, _ := unstructured.NestedSlice(in, "conditions")
		for _, c := range conds {
			c, _ := c.(map[string]any)
			if c["type"] != "Admitted" {
				continue
			}
			if c["status"] == "True" {
				h, _ := in["host"].(string)
				return h, ""
			}
			why = fmt.Sprintf("%v: %v", c["reason"], c["message"])
		}
	}
	return "", why
}

// ingress creates a passthrough Ingress and waits until a controller reports an address.
func (m *migration) ingress(ctx context.Context, namespace string) (string, error) {
	host := name(m.spec.ID, namespace) + "." + m.spec.IngressDomain
	prefix := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		ObjectMeta: meta(m.spec.ID, "receiver", namespace, name(m.spec.ID, "rx")),
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
			Host: host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: name(m.spec.ID, "rx"), Port: networkingv1.ServiceBackendPort{Name: "data"},
				}},
			}}}},
		}}},
	}
	// ingress-nginx and OpenShift's router both pass TLS through when asked so.
	ing.Annotations = map[string]string{
		"nginx.ingress.kubernetes.io/ssl-passthrough": "true",
		"route.openshift.io/termination":              "passthrough",
	}
	ic := m.spec.Target.Client.NetworkingV1().Ingresses(namespace)
	if _, err := ic.Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("create Ingress: %w", err)
	}
	err := m.wait(ctx, func(ctx context.Context) (bool, error) {
		got, err := ic.Get(ctx, ing.Name, metav1.GetOptions{})
		return err == nil && len(got.Status.LoadBalancer.Ingress) > 0, err
	})
	if err != nil {
		return "", fmt.Errorf("no ingress controller took Ingress %s/%s (is one installed, with SSL passthrough enabled?): %w", namespace, ing.Name, err)
	}
	return host, nil
}

// loadBalancer waits for the address of a LoadBalancer Service.
func (m *migration) loadBalancer(ctx context.Context, svc *corev1.Service) (string, error) {
	var addr string
	err := m.wait(ctx, func(ctx context.Context) (bool, error) {
		got, err := m.spec.Target.Client.CoreV1().Services(svc.Namespace).Get(ctx, svc.Name, metav1.GetOptions{})
		if err != nil || len(got.Status.LoadBalancer.Ingress) == 0 {
			return false, err
		}
		addr = got.Status.LoadBalancer.Ingress[0].IP
		if addr == "" {
			addr = got.Status.LoadBalancer.Ingress[0].Hostname
		}
		return addr != "", nil
	})
	if err != nil {
		return "", fmt.Errorf("Service %s/%s got no load-balancer address (does the cluster have a load-balancer controller?): %w", svc.Namespace, svc.Name, err)
	}
	return addr, nil
}

// nodeAddress is the address of a Ready node: its external IP, else its internal one.
func (m *migration) nodeAddress(ctx context.Context) (string, error) {
	nodes, err := m.spec.Target.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("list nodes: %w", err)
	}
	for _, typ := range []corev1.NodeAddressType{corev1.NodeExternalIP, corev1.NodeInternalIP} {
		for _, n := range nodes.Items {
			if !nodeReady(n) {
				continue
			}
			for _, a := range n.Status.Addresses {
				if a.Type == typ {
					return a.Address, nil
				}
			}
		}
	}
	return "", fmt.Errorf("no Ready node of %s has an address", m.spec.Target.Name)
}

func nodeReady(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// wait polls cond until it holds, for at most the spec's ReadyTimeout.
func (m *migration) wait(ctx context.Context, cond wait.ConditionWithContextFunc) error {
	return wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, m.spec.ReadyTimeout, true, cond)
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
