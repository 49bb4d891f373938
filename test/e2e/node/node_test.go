package node_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/ferrydvm/ferry/internal/testenv"
	"github.com/ferrydvm/ferry/test/e2e/cluster"
	"github.com/ferrydvm/ferry/test/e2e/node"
)

// Volumes are mounted under /run/e2e in the tests: the agent creates missing mount
// points on the host, and /run is a tmpfs.
const (
	image  = "ferry:test"
	nodeIP = "10.250.9.2"
)

// env is one cluster served by one agent, shared by the subtests.
type env struct {
	c     *cluster.Cluster
	cs    kubernetes.Interface
	a     *node.Agent
	netns *testenv.Netns
	ip    string // the ip program
}

func TestAgent(t *testing.T) {
	testenv.Root(t)
	tools := testenv.Need(t, "ip", "sh")
	ferry := make(chan error, 1)
	bin := filepath.Join(t.TempDir(), "ferry")
	go func() { ferry <- buildFerry(bin) }() // while the cluster starts
	c := cluster.Start(t, cluster.Options{Name: "nodetest"})
	netns := testenv.NewNetns(t, "node")
	if out, err := exec.Command(tools["ip"], "-n", netns.Name, "addr", "add", nodeIP+"/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("add node address: %v: %s", err, out)
	}
	if err := <-ferry; err != nil {
		t.Fatal(err)
	}
	a := node.Start(t, node.Options{
		Cluster: c, Netns: netns, NodeIP: nodeIP, PodCIDR: "10.244.9.0/24",
		Images: map[string]string{image: bin},
	})
	e := &env{c: c, cs: c.Client(), a: a, netns: netns, ip: tools["ip"]}
	checkNode(t, e)

	t.Run("pods", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			f    func(*testing.T, *env, string)
		}{
			{"version", testVersion},
			{"config", testConfig},
			{"config-error", testConfigError},
			{"service-account", testServiceAccount},
			{"restart-on-failure", testRestartOnFailure},
			{"never-failed", testNeverFailed},
			{"delete", testDelete},
			{"unknown-image", testUnknownImage},
			{"init-and-readiness", testInitAndReadiness},
			{"unbound-claim", testUnboundClaim},
			{"server", testServer},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.f(t, e, e.namespace(t, tc.name))
			})
		}
	})
}

// buildFerry builds the ferry binary under test (go test runs in the package's folder,
// inside the e2e module, whose go.mod replaces ferry with this checkout).
func buildFerry(path string) error {
	cmd := exec.Command("go", "build", "-o", path, "github.com/ferrydvm/ferry/cmd/ferry")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build ferry: %v: %s", err, out)
	}
	return nil
}

// checkNode checks the registered Node.
func checkNode(t *testing.T, e *env) {
	n, err := e.cs.CoreV1().Nodes().Get(t.Context(), e.a.NodeName(), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get node: %v", err)
	}
	ready := false
	for _, c := range n.Status.Conditions {
		ready = ready || c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue
	}
	if !ready || len(n.Spec.Taints) != 0 {
		t.Errorf("node %s: ready=%v taints=%v, want ready and untainted", n.Name, ready, n.Spec.Taints)
	}
	if len(n.Status.Addresses) == 0 || n.Status.Addresses[0].Address != nodeIP {
		t.Errorf("node %s: addresses %v, want InternalIP %s", n.Name, n.Status.Addresses, nodeIP)
	}
}

// namespace creates a namespace and waits until pods may be created in it.
func (e *env) namespace(t *testing.T, name string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := e.cs.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := e.a.WaitServiceAccount(ctx, name); err != nil {
		t.Fatal(err)
	}
	return name
}

// shPod is a pod of one container running a shell script, which does not restart.
func shPod(name, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "main", Image: image, Command: []string{"sh", "-c", script},
			}},
		},
	}
}

func (e *env) create(t *testing.T, ns string, obj runtime.Object) {
	t.Helper()
	ctx := t.Context()
	var err error
	switch o := obj.(type) {
	case *corev1.Pod:
		_, err = e.cs.CoreV1().Pods(ns).Create(ctx, o, metav1.CreateOptions{})
	case *corev1.Secret:
		_, err = e.cs.CoreV1().Secrets(ns).Create(ctx, o, metav1.CreateOptions{})
	case *corev1.ConfigMap:
		_, err = e.cs.CoreV1().ConfigMaps(ns).Create(ctx, o, metav1.CreateOptions{})
	case *corev1.PersistentVolumeClaim:
		_, err = e.cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, o, metav1.CreateOptions{})
	default:
		t.Fatalf("create %T: not handled", obj)
	}
	if err != nil {
		t.Fatalf("create %T: %v", obj, err)
	}
}

// waitPod waits, watching, until cond holds for the pod, and returns it. On a timeout
// it shows the pod's status and its main container's log.
func (e *env) waitPod(t *testing.T, ns, name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var last *corev1.Pod
	ev, err := watchtools.UntilWithSync(ctx, e.podWatch(ns, name), &corev1.Pod{},
		func(store cache.Store) (bool, error) {
			obj, ok, err := store.GetByKey(ns + "/" + name)
			if ok {
				last = obj.(*corev1.Pod)
				return cond(last), err
			}
			return false, err
		},
		func(ev watch.Event) (bool, error) {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type != watch.Deleted {
				last = p
				return cond(p), nil
			}
			return false, nil
		})
	if err != nil {
		logs, _ := e.a.Logs(ns, name, "main")
		t.Fatalf("pod %s/%s: %s: %v\nstatus: %s\nlog:\n%s", ns, name, what, err, describe(last), logs)
	}
	if ev == nil { // the precondition held
		return last
	}
	return ev.Object.(*corev1.Pod)
}

// waitPodGone waits until the pod no longer exists.
func (e *env) waitPodGone(t *testing.T, ns, name string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	_, err := watchtools.UntilWithSync(ctx, e.podWatch(ns, name), &corev1.Pod{},
		func(store cache.Store) (bool, error) {
			_, ok, err := store.GetByKey(ns + "/" + name)
			return !ok, err
		},
		func(ev watch.Event) (bool, error) { return ev.Type == watch.Deleted, nil })
	if err != nil {
		t.Fatalf("pod %s/%s still there: %v", ns, name, err)
	}
}

func (e *env) podWatch(ns, name string) cache.ListerWatcher {
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	pods := e.cs.CoreV1().Pods(ns)
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return pods.Watch(ctx, o)
		},
	}
}

func describe(p *corev1.Pod) string {
	if p == nil {
		return "(never seen)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "phase %s", p.Status.Phase)
	for _, c := range p.Status.Conditions {
		fmt.Fprintf(&b, "; %s=%s %s %s", c.Type, c.Status, c.Reason, c.Message)
	}
	for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		fmt.Fprintf(&b, "; container %s restarts %d state %+v", cs.Name, cs.RestartCount, stateString(cs.State))
	}
	return b.String()
}

func stateString(s corev1.ContainerState) string {
	switch {
	case s.Waiting != nil:
		return "waiting " + s.Waiting.Reason + ": " + s.Waiting.Message
	case s.Running != nil:
		return "running"
	case s.Terminated != nil:
		return fmt.Sprintf("terminated %d %s: %s", s.Terminated.ExitCode, s.Terminated.Reason, s.Terminated.Message)
	}
	return "none"
}

func phaseIs(phases ...corev1.PodPhase) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool {
		for _, ph := range phases {
			if p.Status.Phase == ph {
				return true
			}
		}
		return false
	}
}

// testVersion runs the image's entrypoint with no command, only args.
func testVersion(t *testing.T, e *env, ns string) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "version"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "main", Image: image, Args: []string{"version"}}},
		},
	}
	e.create(t, ns, pod)
	// The entrypoint named by a path, run by a user who may not walk to the binary.
	uid := int64(1000)
	asUser := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "version-user"},
		Spec: corev1.PodSpec{
			RestartPolicy:   corev1.RestartPolicyNever,
			SecurityContext: &corev1.PodSecurityContext{RunAsUser: &uid},
			Containers: []corev1.Container{{Name: "main", Image: image,
				Command: []string{"/usr/local/bin/ferry"}, Args: []string{"version"}}},
		},
	}
	e.create(t, ns, asUser)
	p := e.waitPod(t, ns, "version-user", 30*time.Second, "want Succeeded", phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	if logs, _ := e.a.Logs(ns, "version-user", "main"); p.Status.Phase != corev1.PodSucceeded || !strings.HasPrefix(logs, "ferry ") {
		t.Errorf("as user 1000: phase %s, log %q; want Succeeded and the version", p.Status.Phase, logs)
	}
	p = e.waitPod(t, ns, "version", 30*time.Second, "want Succeeded", phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	if p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("phase %s, want Succeeded: %s", p.Status.Phase, describe(p))
	}
	logs, err := e.a.Logs(ns, "version", "main")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(logs, "ferry ") || !strings.Contains(logs, "protocol") {
		t.Errorf("log %q, want ferry's version line", logs)
	}
	cs := p.Status.ContainerStatuses[0]
	if term := cs.State.Terminated; term == nil || term.Reason != "Completed" || !strings.HasPrefix(cs.ContainerID, "ferry://") {
		t.Errorf("container status %+v, want terminated Completed with a ferry:// ID", cs)
	}
	if p.Spec.NodeName != e.a.NodeName() || p.Status.HostIP != nodeIP || p.Status.PodIP == "" {
		t.Errorf("node %q hostIP %q podIP %q, want %s, %s and an address", p.Spec.NodeName, p.Status.HostIP, p.Status.PodIP, e.a.NodeName(), nodeIP)
	}
}

// testConfig checks env from a Secret and a ConfigMap, their volumes, a claim written
// through the pod, the downward API, and runAsUser.
func testConfig(t *testing.T, e *env, ns string) {
	e.create(t, ns, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"}, StringData: map[string]string{"user": "alice"}})
	e.create(t, ns, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"greeting": "hello"}})
	e.create(t, ns, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}},
		},
	})
	pod := shPod("config", `set -e
echo "$FROM_SECRET $FROM_CM $CM_greeting" > /run/e2e/data/env
cat /run/e2e/creds/user /run/e2e/settings/greeting > /run/e2e/data/files
echo "$POD_IP" > /run/e2e/data/ip
if echo x > /run/e2e/creds/new; then echo "secret volume writable"; exit 1; fi`)
	c := &pod.Spec.Containers[0]
	c.Env = []corev1.EnvVar{
		{Name: "FROM_SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "user"}}},
		{Name: "FROM_CM", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "greeting"}}},
		{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
	}
	c.EnvFrom = []corev1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}}
	c.VolumeMounts = []corev1.VolumeMount{
		{Name: "creds", MountPath: "/run/e2e/creds"},
		{Name: "settings", MountPath: "/run/e2e/settings"},
		{Name: "data", MountPath: "/run/e2e/data"},
	}
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
		{Name: "settings", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
		{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
	}
	e.create(t, ns, pod)

	user := shPod("user", `id -u > /run/e2e/data/id; echo owned > /run/e2e/data/owned`)
	uid, gid := int64(1000), int64(1000)
	user.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: &uid, RunAsGroup: &gid}
	user.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/run/e2e/data"}}
	user.Spec.Volumes = pod.Spec.Volumes[2:]
	e.create(t, ns, user)

	p := e.waitPod(t, ns, "config", 30*time.Second, "want Succeeded", phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	if p.Status.Phase != corev1.PodSucceeded {
		logs, _ := e.a.Logs(ns, "config", "main")
		t.Fatalf("config pod %s: %s\n%s", p.Status.Phase, describe(p), logs)
	}
	e.waitPod(t, ns, "user", 30*time.Second, "want Succeeded", phaseIs(corev1.PodSucceeded))
	dir, err := e.a.VolumePath(ns, "data")
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"env": "alice hello hello\n", "files": "alicehello", "ip": p.Status.PodIP + "\n", "id": "1000\n",
	} {
		got, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q (%v), want %q", file, got, err, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "owned")); err != nil {
		t.Error(err)
	} else if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || st.Gid != 1000 {
		t.Errorf("owned: uid %d gid %d, want 1000:1000", st.Uid, st.Gid)
	}

	// Deleting the claim deletes its volume and folder once no pod uses it.
	for _, name := range []string{"config", "user"} {
		if err := e.cs.CoreV1().Pods(ns).Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pvc, err := e.cs.CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.cs.CoreV1().PersistentVolumeClaims(ns).Delete(t.Context(), "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "volume "+pvc.Spec.VolumeName+" and its folder deleted", func() bool {
		_, err := e.cs.CoreV1().PersistentVolumes().Get(t.Context(), pvc.Spec.VolumeName, metav1.GetOptions{})
		_, statErr := os.Stat(dir)
		return apierrors.IsNotFound(err) && errors.Is(statErr, os.ErrNotExist)
	})
}

// waitFor polls cond: for checks of things no watch reports (files, processes).
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// testConfigError checks that a missing Secret key holds the container, which starts
// once the key is there.
func testConfigError(t *testing.T, e *env, ns string) {
	e.create(t, ns, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "late"}, StringData: map[string]string{"other": "x"}})
	pod := shPod("late", `echo "got $VALUE"`)
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "VALUE", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "late"}, Key: "value"}}}}
	e.create(t, ns, pod)
	p := e.waitPod(t, ns, "late", 20*time.Second, "want CreateContainerConfigError", func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CreateContainerConfigError"
	})
	if msg := p.Status.ContainerStatuses[0].State.Waiting.Message; !strings.Contains(msg, "value") {
		t.Errorf("waiting message %q does not name the key", msg)
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "late"}, StringData: map[string]string{"value": "now"}}
	if _, err := e.cs.CoreV1().Secrets(ns).Update(t.Context(), sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitPod(t, ns, "late", 20*time.Second, "want Succeeded", phaseIs(corev1.PodSucceeded))
	if logs, _ := e.a.Logs(ns, "late", "main"); logs != "got now\n" {
		t.Errorf("log %q, want %q", logs, "got now\n")
	}
}

// testServiceAccount checks the kube-api-access volume: a token that authenticates as
// the pod's service account, the cluster's CA and the namespace.
func testServiceAccount(t *testing.T, e *env, ns string) {
	out := t.TempDir()
	pod := shPod("sa", `set -e
cd /var/run/secrets/kubernetes.io/serviceaccount
test -s token
cat namespace
cp ca.crt token /run/e2e/out/
test -n "$KUBERNETES_SERVICE_HOST" && test -n "$KUBERNETES_SERVICE_PORT"`)
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "out", MountPath: "/run/e2e/out"}}
	pod.Spec.Volumes = []corev1.Volume{{Name: "out", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: out}}}}
	e.create(t, ns, pod)
	p := e.waitPod(t, ns, "sa", 30*time.Second, "want Succeeded", phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	logs, _ := e.a.Logs(ns, "sa", "main")
	if p.Status.Phase != corev1.PodSucceeded || logs != ns {
		t.Fatalf("phase %s, log %q; want Succeeded and %q", p.Status.Phase, logs, ns)
	}
	ca, err := os.ReadFile(filepath.Join(out, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(e.c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(ca) != string(want) {
		t.Errorf("ca.crt in the pod differs from the cluster's CA")
	}
	token, err := os.ReadFile(filepath.Join(out, "token"))
	if err != nil {
		t.Fatal(err)
	}
	// What rest.InClusterConfig builds, pointed at the API server directly.
	cfg := &rest.Config{Host: e.c.URL, BearerToken: string(token), TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("call the API with the pod's token: %v", err)
	}
	if got, want := review.Status.UserInfo.Username, "system:serviceaccount:"+ns+":default"; got != want {
		t.Errorf("token authenticates as %q, want %q", got, want)
	}
}

// testRestartOnFailure runs a script that fails twice, counting its runs in an
// emptyDir, which outlives restarts.
func testRestartOnFailure(t *testing.T, e *env, ns string) {
	pod := shPod("flaky", `n=$(cat /run/e2e/state/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /run/e2e/state/n; echo "run $n"; [ $n -ge 3 ]`)
	pod.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "state", MountPath: "/run/e2e/state"}}
	pod.Spec.Volumes = []corev1.Volume{{Name: "state", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	e.create(t, ns, pod)
	p := e.waitPod(t, ns, "flaky", 30*time.Second, "want Succeeded", phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	cs := p.Status.ContainerStatuses[0]
	if p.Status.Phase != corev1.PodSucceeded || cs.RestartCount != 2 {
		t.Fatalf("phase %s restarts %d, want Succeeded after 2 restarts: %s", p.Status.Phase, cs.RestartCount, describe(p))
	}
	if last := cs.LastTerminationState.Terminated; last == nil || last.ExitCode != 1 {
		t.Errorf("last state %+v, want terminated with 1", cs.LastTerminationState)
	}
	if logs, _ := e.a.Logs(ns, "flaky", "main"); logs != "run 3\n" {
		t.Errorf("log of the last run %q, want %q", logs, "run 3\n")
	}
}

// testNeverFailed checks a failed pod's exit codes and termination messages: from the
// log (FallbackToLogsOnError) and from the termination-message file.
func testNeverFailed(t *testing.T, e *env, ns string) {
	pod := shPod("broken", `echo starting; echo "disk on fire" >&2; exit 3`)
	pod.Spec.Containers[0].TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{
		Name: "file", Image: image, Command: []string{"sh", "-c", `printf 'custom message' > /dev/termination-log; exit 4`},
	})
	e.create(t, ns, pod)
	p := e.waitPod(t, ns, "broken", 30*time.Second, "want Failed", phaseIs(corev1.PodSucceeded, corev1.PodFailed))
	if p.Status.Phase != corev1.PodFailed {
		t.Fatalf("phase %s, want Failed", p.Status.Phase)
	}
	want := map[string]struct {
		code int32
		msg  string
	}{"main": {3, "starting\ndisk on fire\n"}, "file": {4, "custom message"}}
	for _, cs := range p.Status.ContainerStatuses {
		term := cs.State.Terminated
		if term == nil || term.ExitCode != want[cs.Name].code || term.Reason != "Error" || term.Message != want[cs.Name].msg {
			t.Errorf("container %s: %s, want exit %d with message %q", cs.Name, stateString(cs.State), want[cs.Name].code, want[cs.Name].msg)
		}
	}
}

// testDelete deletes a running pod: its process is killed and the object goes.
func testDelete(t *testing.T, e *env, ns string) {
	// "$$" is an escaped "$" in a command, as in Kubernetes: the shell sees $$.
	pod := shPod("sleeper", `echo $$$$; exec sleep 1000`)
	grace := int64(5)
	pod.Spec.TerminationGracePeriodSeconds = &grace
	e.create(t, ns, pod)
	p := e.waitPod(t, ns, "sleeper", 30*time.Second, "want Running and Ready", func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return p.Status.Phase == corev1.PodRunning
			}
		}
		return false
	})
	var pid int
	waitFor(t, 10*time.Second, "the pid in the log", func() bool {
		logs, _ := e.a.Logs(ns, "sleeper", "main")
		pid, _ = strconv.Atoi(strings.TrimSpace(logs))
		return pid > 0
	})
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("process %d of running pod: %v", pid, err)
	}
	if err := e.cs.CoreV1().Pods(ns).Delete(t.Context(), "sleeper", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitPodGone(t, ns, "sleeper", 20*time.Second)
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d of deleted pod: kill 0 says %v, want ESRCH", pid, err)
	}
	_ = p
}

// testUnknownImage checks that an image the agent has no binary for is an ErrImagePull.
func testUnknownImage(t *testing.T, e *env, ns string) {
	pod := shPod("unknown", "true")
	pod.Spec.Containers[0].Image = "registry.example/nope:1"
	e.create(t, ns, pod)
	p := e.waitPod(t, ns, "unknown", 20*time.Second, "want ErrImagePull", func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Waiting != nil &&
			(cs[0].State.Waiting.Reason == "ErrImagePull" || cs[0].State.Waiting.Reason == "ImagePullBackOff")
	})
	if p.Status.Phase != corev1.PodPending || !strings.Contains(p.Status.ContainerStatuses[0].State.Waiting.Message, "registry.example/nope:1") {
		t.Errorf("%s, want Pending with a message naming the image", describe(p))
	}
}

// testInitAndReadiness runs an init container before the main one, whose exec
// readiness probe passes once the container has made a file.
func testInitAndReadiness(t *testing.T, e *env, ns string) {
	pod := shPod("ready", `cat /run/e2e/state/init; sleep 1; touch /run/e2e/state/ready; exec sleep 1000`)
	pod.Spec.InitContainers = []corev1.Container{{Name: "prepare", Image: image,
		Command:      []string{"sh", "-c", "echo prepared > /run/e2e/state/init"},
		VolumeMounts: []corev1.VolumeMount{{Name: "state", MountPath: "/run/e2e/state"}}}}
	c := &pod.Spec.Containers[0]
	c.VolumeMounts = []corev1.VolumeMount{{Name: "state", MountPath: "/run/e2e/state"}}
	c.ReadinessProbe = &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
		Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/run/e2e/state/ready"}}}}
	pod.Spec.Volumes = []corev1.Volume{{Name: "state", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	e.create(t, ns, pod)
	sawUnready := false
	p := e.waitPod(t, ns, "ready", 30*time.Second, "want Ready", func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				sawUnready = sawUnready || p.Status.Phase == corev1.PodRunning && c.Status == corev1.ConditionFalse
				return c.Status == corev1.ConditionTrue
			}
		}
		return false
	})
	if !sawUnready {
		t.Errorf("never saw the pod Running and not Ready before its probe passed")
	}
	if init := p.Status.InitContainerStatuses; len(init) != 1 || init[0].State.Terminated == nil || init[0].State.Terminated.Reason != "Completed" {
		t.Errorf("init containers: %s, want prepare Completed", describe(p))
	}
	if logs, _ := e.a.Logs(ns, "ready", "main"); logs != "prepared\n" {
		t.Errorf("log %q, want what the init container wrote", logs)
	}
}

// testUnboundClaim checks that a pod whose claim cannot be bound stays unscheduled, with
// the scheduler's message.
func testUnboundClaim(t *testing.T, e *env, ns string) {
	manual := "manual" // no such class: nothing provisions the claim
	e.create(t, ns, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "pending"},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &manual,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}},
		},
	})
	pod := shPod("waiting", "true")
	pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "pending"}}}}
	e.create(t, ns, pod)
	p := e.waitPod(t, ns, "waiting", 20*time.Second, "want PodScheduled=False", func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				return true
			}
		}
		return false
	})
	if p.Spec.NodeName != "" || p.Status.Phase != corev1.PodPending || !strings.Contains(describe(p), "unbound immediate PersistentVolumeClaims") {
		t.Errorf("%s on node %q, want Pending, unscheduled, naming the unbound claim", describe(p), p.Spec.NodeName)
	}
}

// testServer runs ferry's receiver the way a migration does: certificates made by an
// init container, listening on the pod's own IP (downward API), Ready through a
// tcpSocket probe, reachable in the cluster's namespace; the address goes with the pod.
func testServer(t *testing.T, e *env, ns string) {
	podIP := corev1.EnvVar{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}
	mounts := []corev1.VolumeMount{{Name: "certs", MountPath: "/run/e2e/certs"}, {Name: "data", MountPath: "/run/e2e/data"}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "receiver"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "certs", Image: image, Env: []corev1.EnvVar{podIP}, VolumeMounts: mounts,
				Args: []string{"certs", "generate", "--out", "/run/e2e/certs/$(POD_IP)", "--server-name", "$(POD_IP)"}}},
			Containers: []corev1.Container{{Name: "main", Image: image, Env: []corev1.EnvVar{podIP}, VolumeMounts: mounts,
				Args:  []string{"serve", "--listen", "$(POD_IP):6443", "--certs", "/run/e2e/certs/$(POD_IP)", "--volume", "data=/run/e2e/data"},
				Ports: []corev1.ContainerPort{{Name: "ferry", ContainerPort: 6443}},
				ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
					TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("ferry")}}},
			}},
			Volumes: []corev1.Volume{
				{Name: "certs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}
	e.create(t, ns, pod)
	p := e.waitPod(t, ns, "receiver", 30*time.Second, "want Ready", func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				return c.Status == corev1.ConditionTrue
			}
		}
		return false
	})
	addr := net.JoinHostPort(p.Status.PodIP, "6443")
	conn, err := e.netns.Dial(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatalf("dial the receiver at %s in the cluster's namespace: %v", addr, err)
	}
	conn.Close()

	if err := e.cs.CoreV1().Pods(ns).Delete(t.Context(), "receiver", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitPodGone(t, ns, "receiver", 20*time.Second)
	out, err := exec.Command(e.ip, "-n", e.netns.Name, "-o", "addr", "show", "dev", "lo").CombinedOutput()
	if err != nil || strings.Contains(string(out), " "+p.Status.PodIP+"/32") {
		t.Errorf("address %s still on lo after the pod went (%v):\n%s", p.Status.PodIP, err, out)
	}
}
