package services

import (
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Endpoints returns the addresses (podIP:port) that serve port of svc among pods: the
// running, Ready, not terminating pods of svc's namespace that its selector matches, with
// the port's targetPort resolved (a number, a container port name, or the service port
// itself when targetPort is unset). A Service without a selector has none.
func Endpoints(svc *corev1.Service, port corev1.ServicePort, pods []*corev1.Pod) []string {
	if len(svc.Spec.Selector) == 0 {
		return nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var out []string
	for _, p := range pods {
		if p.Namespace != svc.Namespace || !sel.Matches(labels.Set(p.Labels)) || !serving(p) {
			continue
		}
		if n, ok := targetPort(port, p); ok {
			out = append(out, net.JoinHostPort(p.Status.PodIP, strconv.Itoa(n)))
		}
	}
	return out
}

// serving tells whether a pod takes traffic: running, Ready, not being deleted, with an IP.
func serving(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// targetPort resolves a service port's targetPort for one pod.
func targetPort(port corev1.ServicePort, p *corev1.Pod) (int, bool) {
	tp := port.TargetPort
	switch {
	case tp.IntValue() > 0:
		return tp.IntValue(), true
	case tp.StrVal == "":
		return int(port.Port), true
	}
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == tp.StrVal && (cp.Protocol == "" || cp.Protocol == corev1.ProtocolTCP) {
				return int(cp.ContainerPort), true
			}
		}
	}
	return 0, false
}
