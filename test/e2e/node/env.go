package node

import (
	"context"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/kubernetes/pkg/fieldpath"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"
)

// defaultPath is the PATH of a container whose spec sets none (an image's usual one).
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// sources fetches the Secrets and ConfigMaps a container refers to, each once per start.
type sources struct {
	ctx        context.Context
	w          *podWorker
	secrets    map[string]*corev1.Secret
	configMaps map[string]*corev1.ConfigMap
}

func (w *podWorker) newSources(ctx context.Context) *sources {
	return &sources{ctx: ctx, w: w, secrets: map[string]*corev1.Secret{}, configMaps: map[string]*corev1.ConfigMap{}}
}

// secret returns the Secret, nil when it does not exist.
func (s *sources) secret(name string) (*corev1.Secret, error) {
	if v, ok := s.secrets[name]; ok {
		return v, nil
	}
	v, err := s.w.a.client.CoreV1().Secrets(s.w.namespace).Get(s.ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		v, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get secret %s/%s: %w", s.w.namespace, name, err)
	}
	s.secrets[name] = v
	return v, nil
}

// configMap returns the ConfigMap, nil when it does not exist.
func (s *sources) configMap(name string) (*corev1.ConfigMap, error) {
	if v, ok := s.configMaps[name]; ok {
		return v, nil
	}
	v, err := s.w.a.client.CoreV1().ConfigMaps(s.w.namespace).Get(s.ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		v, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get configmap %s/%s: %w", s.w.namespace, name, err)
	}
	s.configMaps[name] = v
	return v, nil
}

// secretKey returns a key of a Secret; ok is false when an optional one is missing.
func (s *sources) secretKey(ref *corev1.SecretKeySelector) (string, bool, error) {
	optional := ref.Optional != nil && *ref.Optional
	sec, err := s.secret(ref.Name)
	if err != nil {
		return "", false, err
	}
	if sec == nil {
		if optional {
			return "", false, nil
		}
		return "", false, fmt.Errorf("secret %q not found", ref.Name)
	}
	v, ok := sec.Data[ref.Key]
	if !ok {
		if optional {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, s.w.namespace, ref.Name)
	}
	return string(v), true, nil
}

// configMapKey returns a key of a ConfigMap; ok is false when an optional one is missing.
func (s *sources) configMapKey(ref *corev1.ConfigMapKeySelector) (string, bool, error) {
	optional := ref.Optional != nil && *ref.Optional
	cm, err := s.configMap(ref.Name)
	if err != nil {
		return "", false, err
	}
	if cm == nil {
		if optional {
			return "", false, nil
		}
		return "", false, fmt.Errorf("configmap %q not found", ref.Name)
	}
	if v, ok := cm.Data[ref.Key]; ok {
		return v, true, nil
	}
	if v, ok := cm.BinaryData[ref.Key]; ok {
		return string(v), true, nil
	}
	if optional {
		return "", false, nil
	}
	return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, s.w.namespace, ref.Name)
}

// containerEnv builds a container's environment as the kubelet and a runtime do: the
// image's defaults (PATH, HOME, HOSTNAME), the "kubernetes" Service's variables, then
// envFrom, then env, whose values may refer to earlier variables as $(NAME).
func (w *podWorker) containerEnv(src *sources, pod *corev1.Pod, c *corev1.Container, uid int64) (map[string]string, error) {
	env := map[string]string{}
	if host, port, err := net.SplitHostPort(w.a.o.ServiceHost); err == nil {
		url := "tcp://" + w.a.o.ServiceHost
		env["KUBERNETES_SERVICE_HOST"] = host
		env["KUBERNETES_SERVICE_PORT"] = port
		env["KUBERNETES_SERVICE_PORT_HTTPS"] = port
		env["KUBERNETES_PORT"] = url
		env["KUBERNETES_PORT_"+port+"_TCP"] = url
		env["KUBERNETES_PORT_"+port+"_TCP_PROTO"] = "tcp"
		env["KUBERNETES_PORT_"+port+"_TCP_PORT"] = port
		env["KUBERNETES_PORT_"+port+"_TCP_ADDR"] = host
	}
	for _, from := range c.EnvFrom {
		data, err := envFromData(src, from)
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			if k = from.Prefix + k; len(validation.IsEnvVarName(k)) == 0 {
				env[k] = v
			}
		}
	}
	for _, e := range c.Env {
		v, ok, err := w.envValue(src, pod, c, e, env)
		if err != nil {
			return nil, err
		}
		if ok {
			env[e.Name] = v
		}
	}
	defaults := map[string]string{"PATH": defaultPath, "HOSTNAME": podHostname(pod), "HOME": "/root"}
	if uid != 0 {
		defaults["HOME"] = "/"
	}
	for k, v := range defaults {
		if _, ok := env[k]; !ok {
			env[k] = v
		}
	}
	return env, nil
}

// envFromData returns the keys of an envFrom source; nil for a missing optional one.
func envFromData(src *sources, from corev1.EnvFromSource) (map[string]string, error) {
	switch {
	case from.ConfigMapRef != nil:
		cm, err := src.configMap(from.ConfigMapRef.Name)
		if err != nil {
			return nil, err
		}
		if cm == nil {
			if from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
				return nil, nil
			}
			return nil, fmt.Errorf("configmap %q not found", from.ConfigMapRef.Name)
		}
		return cm.Data, nil
	case from.SecretRef != nil:
		sec, err := src.secret(from.SecretRef.Name)
		if err != nil {
			return nil, err
		}
		if sec == nil {
			if from.SecretRef.Optional != nil && *from.SecretRef.Optional {
				return nil, nil
			}
			return nil, fmt.Errorf("secret %q not found", from.SecretRef.Name)
		}
		data := make(map[string]string, len(sec.Data))
		for k, v := range sec.Data {
			data[k] = string(v)
		}
		return data, nil
	}
	return nil, nil
}

// envValue resolves one env entry; ok is false for an optional source that is missing.
func (w *podWorker) envValue(src *sources, pod *corev1.Pod, c *corev1.Container, e corev1.EnvVar, env map[string]string) (string, bool, error) {
	from := e.ValueFrom
	switch {
	case from == nil:
		return expansion.Expand(e.Value, expansion.MappingFuncFor(env)), true, nil
	case from.SecretKeyRef != nil:
		return src.secretKey(from.SecretKeyRef)
	case from.ConfigMapKeyRef != nil:
		return src.configMapKey(from.ConfigMapKeyRef)
	case from.FieldRef != nil:
		v, err := w.podField(pod, from.FieldRef.FieldPath)
		return v, err == nil, err
	case from.ResourceFieldRef != nil:
		v, err := w.resourceValue(pod, c.Name, from.ResourceFieldRef)
		return v, err == nil, err
	}
	return "", false, fmt.Errorf("env %s: unsupported valueFrom", e.Name)
}

// podField returns a field of the pod for the downward API.
func (w *podWorker) podField(pod *corev1.Pod, path string) (string, error) {
	w.mu.Lock()
	ip := w.ip
	w.mu.Unlock()
	switch path {
	case "spec.nodeName":
		return w.a.o.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		if !ip.IsValid() {
			return "", nil
		}
		return ip.String(), nil
	case "status.hostIP", "status.hostIPs":
		return w.a.o.NodeIP, nil
	}
	v, err := fieldpath.ExtractFieldPathAsString(pod, path)
	if err != nil {
		return "", fmt.Errorf("downward API field %s: %w", path, err)
	}
	return v, nil
}

// resourceValue returns a container's request or limit in units of the divisor, rounded
// up; a limit that is not set is the node's allocatable amount.
func (w *podWorker) resourceValue(pod *corev1.Pod, container string, ref *corev1.ResourceFieldSelector) (string, error) {
	if ref.ContainerName != "" {
		container = ref.ContainerName
	}
	i := slices.IndexFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == container })
	if i < 0 {
		return "", fmt.Errorf("resource field %s: no container %q", ref.Resource, container)
	}
	res := pod.Spec.Containers[i].Resources
	kind, name, _ := strings.Cut(ref.Resource, ".")
	list := res.Limits
	if kind == "requests" {
		list = res.Requests
	}
	q, ok := list[corev1.ResourceName(name)]
	if !ok && kind == "limits" {
		q, ok = w.a.nodeStatus().Allocatable[corev1.ResourceName(name)]
	}
	if !ok {
		q = resource.Quantity{}
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if name == string(corev1.ResourceCPU) {
		return fmt.Sprint(int64(math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue())))), nil
	}
	return fmt.Sprint(int64(math.Ceil(float64(q.Value()) / float64(divisor.Value())))), nil
}

// envList turns the environment into the process's KEY=value list, in a stable order.
func envList(env map[string]string) []string {
	list := make([]string, 0, len(env))
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	slices.Sort(list)
	return list
}

// podHostname is the pod's host name: spec.hostname, else its name (at most 63 bytes).
func podHostname(pod *corev1.Pod) string {
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}
