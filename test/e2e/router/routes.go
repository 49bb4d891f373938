package router

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/ferrydvm/ferry/internal/kube"
	"github.com/ferrydvm/ferry/test/e2e/services"
)

type listers struct {
	routes    cache.GenericLister
	ingresses networkinglisters.IngressLister
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
}

// oldestFirst returns the Routes sorted by creation, oldest first: the oldest claim on
// a host wins, as in OpenShift.
func oldestFirst(objs []runtime.Object) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if u, ok := o.(*unstructured.Unstructured); ok {
			out = append(out, u)
		}
	}
	slices.SortStableFunc(out, func(a, b *unstructured.Unstructured) int {
		if c := a.GetCreationTimestamp().Compare(b.GetCreationTimestamp().Time); c != 0 {
			return c
		}
		return strings.Compare(a.GetNamespace()+"/"+a.GetName(), b.GetNamespace()+"/"+b.GetName())
	})
	return out
}

// route admits one Route (or not); it returns its backend when admitted, and a function
// that reports the outcome in the Route's status.
func (r *Router) route(ctx context.Context, u *unstructured.Unstructured, claimed map[string]string) ([]Backend, func()) {
	ns, name := u.GetNamespace(), u.GetName()
	who := "route " + ns + "/" + name
	host, _, _ := unstructured.NestedString(u.Object, "spec", "host")
	if host == "" {
		host = r.Host(ns, name)
		patch := fmt.Appendf(nil, `{"spec":{"host":%q}}`, host)
		if _, err := r.dyn.Resource(kube.RouteGVR).Namespace(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			r.log.Warn("set route host", "route", ns+"/"+name, "err", err)
			return nil, func() {}
		}
	}
	host = strings.ToLower(host)
	termination, _, _ := unstructured.NestedString(u.Object, "spec", "tls", "termination")
	reason, message := "", ""
	switch {
	case termination != "passthrough":
		reason, message = "UnsupportedTermination", fmt.Sprintf("this router serves TLS passthrough only, not termination %q", termination)
	case claimed[host] != "":
		reason, message = "HostAlreadyClaimed", fmt.Sprintf("host %s is claimed by %s", host, claimed[host])
	}
	report := func() { r.routeStatus(ctx, u, host, reason, message) }
	if reason != "" {
		return nil, report
	}
	claimed[host] = who
	kind, _, _ := unstructured.NestedString(u.Object, "spec", "to", "kind")
	svcName, _, _ := unstructured.NestedString(u.Object, "spec", "to", "name")
	if kind != "" && kind != "Service" {
		return []Backend{{Host: host, Source: who}}, report
	}
	var target *intstr.IntOrString
	if v, ok, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "port", "targetPort"); ok {
		t := intOrString(v)
		target = &t
	}
	servers := r.endpoints(ns, svcName, func(p corev1.ServicePort) bool {
		return target == nil || matchesRoutePort(p, *target)
	})
	return []Backend{{Host: host, Servers: servers, Source: who}}, report
}

func intOrString(v any) intstr.IntOrString {
	switch v := v.(type) {
	case int64:
		return intstr.FromInt(int(v))
	case float64:
		return intstr.FromInt(int(v))
	case string:
		return intstr.Parse(v)
	}
	return intstr.IntOrString{}
}

// matchesRoutePort tells whether a Route's spec.port.targetPort picks service port p:
// by the port's name, or by its target port or port number.
func matchesRoutePort(p corev1.ServicePort, target intstr.IntOrString) bool {
	if target.Type == intstr.String {
		return p.Name == target.StrVal || p.TargetPort.StrVal == target.StrVal
	}
	return p.TargetPort.IntValue() == target.IntValue() || int(p.Port) == target.IntValue()
}

// endpoints are the pod addresses behind the first port of a Service that pick accepts.
func (r *Router) endpoints(namespace, service string, pick func(corev1.ServicePort) bool) []string {
	svc, err := r.lists.services.Services(namespace).Get(service)
	if err != nil {
		return nil
	}
	pods, err := r.lists.pods.Pods(namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	for _, p := range svc.Spec.Ports {
		if pick(p) {
			return services.Endpoints(svc, p, pods)
		}
	}
	return nil
}

// routeStatus reports whether the router admitted the Route; reason "" means admitted.
// It writes only when the reported state changes.
func (r *Router) routeStatus(ctx context.Context, u *unstructured.Unstructured, host, reason, message string) {
	admitted := "True"
	if reason != "" {
		admitted = "False"
	}
	ingress, _, _ := unstructured.NestedSlice(u.Object, "status", "ingress")
	if len(ingress) == 1 {
		cur, _ := ingress[0].(map[string]any)
		conds, _, _ := unstructured.NestedSlice(cur, "conditions")
		if cur["host"] == host && len(conds) == 1 {
			c, _ := conds[0].(map[string]any)
			if c["status"] == admitted && c["reason"] == orNil(reason) {
				return
			}
		}
	}
	cond := map[string]any{"type": "Admitted", "status": admitted, "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}
	if reason != "" {
		cond["reason"], cond["message"] = reason, message
	}
	u = u.DeepCopy()
	unstructured.SetNestedSlice(u.Object, []any{map[string]any{
		"host":                    host,
		"routerName":              "default",
		"wildcardPolicy":          "None",
		"routerCanonicalHostname": "router-default." + r.o.Subdomain,
		"conditions":              []any{cond},
	}}, "status", "ingress")
	unstructured.SetNestedField(u.Object, host, "spec", "host")
	if _, err := r.dyn.Resource(kube.RouteGVR).Namespace(u.GetNamespace()).UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
		r.log.Info("route status", "route", u.GetNamespace()+"/"+u.GetName(), "err", err)
	}
}

func orNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// passthrough tells whether an Ingress asks for TLS passthrough.
func passthrough(ing *networkingv1.Ingress) bool {
	a := ing.Annotations
	return a["nginx.ingress.kubernetes.io/ssl-passthrough"] == "true" || a["route.openshift.io/termination"] == "passthrough"
}

// ingress returns the backends of a passthrough Ingress, one per rule host, and a
// function that reports the router's address in its status.
func (r *Router) ingress(ctx context.Context, ing *networkingv1.Ingress, claimed map[string]string) ([]Backend, func()) {
	who := "ingress " + ing.Namespace + "/" + ing.Name
	if !passthrough(ing) {
		r.log.Info("not served: no passthrough annotation", "ingress", ing.Namespace+"/"+ing.Name)
		return nil, func() {}
	}
	var out []Backend
	for _, rule := range ing.Spec.Rules {
		host := strings.ToLower(rule.Host)
		if host == "" || claimed[host] != "" || rule.HTTP == nil || len(rule.HTTP.Paths) == 0 {
			continue
		}
		claimed[host] = who
		be := rule.HTTP.Paths[0].Backend.Service
		if be == nil {
			continue
		}
		servers := r.endpoints(ing.Namespace, be.Name, func(p corev1.ServicePort) bool {
			return (be.Port.Name != "" && p.Name == be.Port.Name) || (be.Port.Number != 0 && p.Port == be.Port.Number)
		})
		out = append(out, Backend{Host: host, Servers: servers, Source: who})
	}
	cur := ing.Status.LoadBalancer.Ingress
	if len(out) == 0 || (len(cur) == 1 && cur[0].IP == r.o.IP) {
		return out, func() {}
	}
	return out, func() {
		ing = ing.DeepCopy()
		ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: r.o.IP}}
		if _, err := r.o.Cluster.Client().NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(ctx, ing, metav1.UpdateOptions{}); err != nil {
			r.log.Info("ingress status", "ingress", ing.Namespace+"/"+ing.Name, "err", err)
		}
	}
}
