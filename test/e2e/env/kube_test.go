package env_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferrydvm/ferry/test/e2e/env"
)

// namespace creates a namespace in the cluster of s, deleted... never: there is no
// namespace controller; the clusters end with the test.
func namespace(t *testing.T, s *env.Side, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := s.Client().CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("%s: create namespace %s: %v", s.Name, name, err)
	}
}

// secretFromDir stores every file of dir in a Secret.
func secretFromDir(t *testing.T, s *env.Side, ns, name, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string][]byte{}}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sec.Data[e.Name()] = b
	}
	if _, err := s.Client().CoreV1().Secrets(ns).Create(t.Context(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatalf("%s: create secret %s/%s: %v", s.Name, ns, name, err)
	}
}

// ferryPod is a pod of one container running ferry with args, the Secret "certs" at
// /certs, and the given env; it never restarts.
func ferryPod(name string, labels map[string]string, envs []corev1.EnvVar, args ...string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name:         "ferry",
				Image:        env.Image,
				Command:      []string{"ferry"},
				Args:         args,
				Env:          envs,
				VolumeMounts: []corev1.VolumeMount{{Name: "certs", MountPath: "/var/run/ferry/certs", ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{{Name: "certs", VolumeSource: corev1.VolumeSource{
				Secret: &corev1.SecretVolumeSource{SecretName: "certs"},
			}}},
		},
	}
}

// run creates a pod and waits until it ends; it returns the phase and the log.
func run(t *testing.T, s *env.Side, ns string, pod *corev1.Pod) (corev1.PodPhase, string) {
	t.Helper()
	ctx := t.Context()
	if _, err := s.Client().CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("%s: create pod %s/%s: %v", s.Name, ns, pod.Name, err)
	}
	var phase corev1.PodPhase
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := s.Client().CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		phase = p.Status.Phase
		return phase == corev1.PodSucceeded || phase == corev1.PodFailed, nil
	})
	log, _ := s.Agent.Logs(ns, pod.Name, pod.Spec.Containers[0].Name)
	if err != nil {
		t.Fatalf("%s: pod %s/%s did not end (phase %q): %v\nlog:\n%s", s.Name, ns, pod.Name, phase, err, log)
	}
	return phase, log
}

// waitReady waits until a pod is Running and Ready.
func waitReady(t *testing.T, s *env.Side, ns, name string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := s.Client().CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pod = p
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded, nil
	})
	if err != nil || pod.Status.Phase != corev1.PodRunning {
		log, _ := s.Agent.Logs(ns, name, pod.Spec.Containers[0].Name)
		t.Fatalf("%s: pod %s/%s not ready (phase %q): %v\nlog:\n%s", s.Name, ns, name, pod.Status.Phase, err, log)
	}
	return pod
}

// poll waits for cond, failing the test with what after a minute.
func poll(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 60*time.Second, true, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func contains(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s does not say %q:\n%s", what, w, text)
		}
	}
}
