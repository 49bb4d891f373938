package node

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestPodPhase(t *testing.T) {
	running := corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	creating := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
	exited := func(code int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
	}
	backoff := corev1.ContainerStatus{
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}},
	}
	for _, tc := range []struct {
		name     string
		policy   corev1.RestartPolicy
		statuses []corev1.ContainerStatus
		want     corev1.PodPhase
	}{
		{"creating", corev1.RestartPolicyAlways, []corev1.ContainerStatus{running, creating}, corev1.PodPending},
		{"running", corev1.RestartPolicyNever, []corev1.ContainerStatus{running, exited(0)}, corev1.PodRunning},
		{"crash loop", corev1.RestartPolicyAlways, []corev1.ContainerStatus{backoff}, corev1.PodRunning},
		{"always restarts", corev1.RestartPolicyAlways, []corev1.ContainerStatus{exited(0)}, corev1.PodRunning},
		{"succeeded", corev1.RestartPolicyOnFailure, []corev1.ContainerStatus{exited(0), exited(0)}, corev1.PodSucceeded},
		{"on failure restarts", corev1.RestartPolicyOnFailure, []corev1.ContainerStatus{exited(0), backoff}, corev1.PodRunning},
		{"never failed", corev1.RestartPolicyNever, []corev1.ContainerStatus{exited(0), exited(2)}, corev1.PodFailed},
	} {
		if got := podPhase(tc.policy, tc.statuses); got != tc.want {
			t.Errorf("%s: phase %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestCommandLine(t *testing.T) {
	env := map[string]string{"NAME": "db", "DIR": "/data"}
	for _, tc := range []struct {
		name          string
		image         string
		command, args []string
		want          []string
	}{
		{"args only", "ferry:test", nil, []string{"send", "$(DIR)"}, []string{"/bin/ferry", "send", "/data"}},
		{"entrypoint by name", "ferry:test", []string{"ferry"}, []string{"version"}, []string{"/bin/ferry", "version"}},
		{"entrypoint by path", "ferry:test", []string{"/usr/local/bin/ferry", "version"}, nil, []string{"/bin/ferry", "version"}},
		{"entrypoint by image name", "registry.example/x/ferry:v1@sha256:ab", []string{"/ferry"}, nil, []string{"/bin/ferry"}},
		{"other program", "ferry:test", []string{"sh", "-c", "echo $(NAME) $$(NAME) $(MISSING)"}, nil,
			[]string{"sh", "-c", "echo db $(NAME) $(MISSING)"}},
	} {
		c := &corev1.Container{Image: tc.image, Command: tc.command, Args: tc.args}
		if got := commandLine(c, "/bin/ferry", env); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestImageBinary(t *testing.T) {
	a := &Agent{o: Options{NodeName: "n", Images: map[string]string{
		"ferry:test": "/exact", "registry.example/*": "/any", "registry.example/ferry:*": "/longer",
	}}}
	for image, want := range map[string]string{
		"ferry:test": "/exact", "registry.example/x:1": "/any", "registry.example/ferry:v2": "/longer", "ferry:other": "",
	} {
		got, err := a.imageBinary(image)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("%s: %q, %v; want %q", image, got, err, want)
		}
	}
}

func TestIPAM(t *testing.T) {
	m, err := newIPAM("10.244.9.0/30")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := m.allocate()
	b, _ := m.allocate()
	if a.String() != "10.244.9.1" || b.String() != "10.244.9.2" {
		t.Fatalf("got %s and %s, want .1 and .2 (not the network or broadcast address)", a, b)
	}
	if _, err := m.allocate(); err == nil {
		t.Fatal("allocated from a full range")
	}
	m.release(a)
	if c, _ := m.allocate(); c != a {
		t.Errorf("got %s, want the released %s", c, a)
	}
	if _, err := newIPAM("10.244.9.0/31"); err == nil {
		t.Error("accepted a /31")
	}
}

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	var b strings.Builder
	for i := range 100 {
		b.WriteString(strings.Repeat("x", i%7) + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got := logTail(path, 80, 2048)
	if want := strings.Join(strings.SplitAfter(b.String(), "\n")[20:100], ""); got != want {
		t.Errorf("80 lines: got %d bytes, want %d", len(got), len(want))
	}
	if got := logTail(path, 80, 10); len(got) > 10 {
		t.Errorf("10 bytes: got %d", len(got))
	}
}
