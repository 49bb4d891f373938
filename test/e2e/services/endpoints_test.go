package services

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func pod(name, ip string, ready bool, mutate ...func(*corev1.Pod)) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "rx"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  "c",
			Ports: []corev1.ContainerPort{{Name: "data", ContainerPort: 2222}},
		}}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			PodIP:      ip,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}},
		},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func TestEndpoints(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "rx", Namespace: "ns"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "rx"}},
	}
	now := metav1.Now()
	pods := []*corev1.Pod{
		pod("a", "10.0.0.1", true),
		pod("b", "10.0.0.2", false),
		pod("c", "10.0.0.3", true, func(p *corev1.Pod) { p.DeletionTimestamp = &now }),
		pod("d", "10.0.0.4", true, func(p *corev1.Pod) { p.Labels = map[string]string{"app": "other"} }),
		pod("e", "10.0.0.5", true, func(p *corev1.Pod) { p.Namespace = "elsewhere" }),
		pod("f", "", true),
		pod("g", "10.0.0.7", true, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
		pod("h", "10.0.0.8", true),
	}
	tests := []struct {
		name string
		port corev1.ServicePort
		want []string
	}{
		{"number", corev1.ServicePort{Port: 443, TargetPort: intstr.FromInt32(2222)}, []string{"10.0.0.1:2222", "10.0.0.8:2222"}},
		{"name", corev1.ServicePort{Port: 443, TargetPort: intstr.FromString("data")}, []string{"10.0.0.1:2222", "10.0.0.8:2222"}},
		{"unset", corev1.ServicePort{Port: 8080}, []string{"10.0.0.1:8080", "10.0.0.8:8080"}},
		{"unknown name", corev1.ServicePort{Port: 443, TargetPort: intstr.FromString("nope")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Endpoints(svc, tt.port, pods)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Endpoints = %v, want %v", got, tt.want)
			}
		})
	}
	noSelector := svc.DeepCopy()
	noSelector.Spec.Selector = nil
	if got := Endpoints(noSelector, corev1.ServicePort{Port: 1}, pods); got != nil {
		t.Errorf("a Service without selector has endpoints %v", got)
	}
}
