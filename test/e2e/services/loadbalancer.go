package services

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// loadBalancerIP returns the pool address of a LoadBalancer Service, allocating one and
// reporting it in the Service's status the first time. "" when the pool is empty or
// exhausted: the Service stays pending. Only the reconcile loop calls it.
func (r *Relay) loadBalancerIP(ctx context.Context, svc *corev1.Service) string {
	key := svc.Namespace + "/" + svc.Name
	ip, ok := r.lbIPs[key]
	if !ok {
		ip = r.freeIP()
		if ip == "" {
			r.log.Warn("load-balancer pool exhausted", "service", key)
			return ""
		}
		r.lbIPs[key] = ip
	}
	ingress := svc.Status.LoadBalancer.Ingress
	if len(ingress) != 1 || ingress[0].IP != ip {
		svc = svc.DeepCopy()
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
		_, err := r.o.Cluster.Client().CoreV1().Services(svc.Namespace).UpdateStatus(ctx, svc, metav1.UpdateOptions{})
		if err != nil {
			// A conflict means a newer Service is on its way to the informer: the next
			// round writes the status again.
			r.log.Info("report load-balancer address", "service", key, "err", err)
		}
	}
	return ip
}

// freeIP is the first pool address no Service holds.
func (r *Relay) freeIP() string {
	for _, ip := range r.o.LoadBalancerIPs {
		taken := false
		for _, held := range r.lbIPs {
			taken = taken || held == ip
		}
		if !taken {
			return ip
		}
	}
	return ""
}

// releaseIPs frees the addresses of Services that are gone or no longer LoadBalancers.
func (r *Relay) releaseIPs(svcs []*corev1.Service) {
	keep := func(key string) bool {
		return slices.ContainsFunc(svcs, func(s *corev1.Service) bool {
			return s.Namespace+"/"+s.Name == key && s.Spec.Type == corev1.ServiceTypeLoadBalancer
		})
	}
	for key := range r.lbIPs {
		if !keep(key) {
			delete(r.lbIPs, key)
		}
	}
}
