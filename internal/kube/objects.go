package kube

import (
	"fmt"
	"path"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// meta is the ObjectMeta of an object of migration id.
func meta(id, role, namespace, objName string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: objName, Namespace: namespace, Labels: labels(id, role)}
}

// ferryContainer is the container every ferry pod runs: the image's ferry, as root
// (owners and modes must be kept), its failures explained by the end of its log.
func ferryContainer(image string, res corev1.ResourceRequirements, args ...string) corev1.Container {
	return corev1.Container{
		Name:                     "ferry",
		Image:                    image,
		Command:                  []string{"ferry"},
		Args:                     args,
		Resources:                res,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext:          &corev1.SecurityContext{RunAsUser: ptr.To[int64](0), RunAsGroup: ptr.To[int64](0)},
		VolumeMounts:             []corev1.VolumeMount{{Name: "certs", MountPath: certsDir, ReadOnly: true}},
	}
}

func secretVolume(volName, secret string) corev1.Volume {
	return corev1.Volume{Name: volName, VolumeSource: corev1.VolumeSource{
		Secret: &corev1.SecretVolumeSource{SecretName: secret, DefaultMode: ptr.To[int32](0o400)},
	}}
}

func claimVolume(volName, claim string, readOnly bool) corev1.Volume {
	return corev1.Volume{Name: volName, VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim, ReadOnly: readOnly},
	}}
}

var podIPEnv = corev1.EnvVar{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{
	FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"},
}}

// receiverPod serves the target claims of one namespace with `ferry serve`.
func receiverPod(id, namespace, image string, claims []string, res corev1.ResourceRequirements) *corev1.Pod {
	args := []string{"serve", "--listen", "$(POD_IP):" + strconv.Itoa(receiverPort), "--certs", certsDir}
	c := ferryContainer(image, res)
	vols := []corev1.Volume{secretVolume("certs", name(id, "certs"))}
	for i, claim := range claims {
		v := "v" + strconv.Itoa(i)
		args = append(args, "--volume", claim+"="+path.Join(volumesDir, claim))
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: v, MountPath: path.Join(volumesDir, claim)})
		vols = append(vols, claimVolume(v, claim, false))
	}
	c.Args = args
	c.Env = []corev1.EnvVar{podIPEnv}
	c.Ports = []corev1.ContainerPort{{Name: "data", ContainerPort: receiverPort}}
	c.ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(receiverPort)}},
		PeriodSeconds: 2,
	}
	return &corev1.Pod{
		ObjectMeta: meta(id, "receiver", namespace, name(id, "rx")),
		Spec: corev1.PodSpec{
			Containers:                   []corev1.Container{c},
			Volumes:                      vols,
			RestartPolicy:                corev1.RestartPolicyAlways,
			AutomountServiceAccountToken: ptr.To(false),
		},
	}
}

// proxyEnv passes the data-path proxies from the migration's proxy Secret, and returns
// the --proxy arguments that use them: URLs with credentials never appear in a pod spec.
func proxyEnv(id string, n int) ([]corev1.EnvVar, []string) {
	var envs []corev1.EnvVar
	var args []string
	for i := range n {
		v := fmt.Sprintf("FERRY_PROXY_%d", i)
		envs = append(envs, corev1.EnvVar{Name: v, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name(id, "proxy")},
			Key:                  fmt.Sprintf("proxy-%d", i),
		}}})
		args = append(args, "--proxy", "$("+v+")")
	}
	return envs, args
}

// senderArgs are the arguments of `ferry send` for one volume.
func (m *migration) senderArgs(s SenderPlan, rx ReceiverPlan) []string {
	args := []string{"send", volumesDir + "/source/", rx.Address + "/" + s.Volume.targetName(),
		"--certs", certsDir, "--server-name", rx.Server, "--progress", "none",
		"--report-configmap", progressName(m.spec.ID, s.Volume)}
	if !m.spec.NoDelete {
		args = append(args, "--delete")
	}
	if m.spec.Checksum || s.Volume.Checksum {
		args = append(args, "--checksum")
	}
	if m.spec.Compress {
		args = append(args, "--compress")
	}
	if m.spec.BandwidthLimit != "" {
		args = append(args, "--bwlimit", m.spec.BandwidthLimit)
	}
	return args
}

// senderPod copies one volume; attempt numbers the pods that replace failed ones.
func (m *migration) senderPod(s SenderPlan, rx ReceiverPlan, attempt int) *corev1.Pod {
	id := m.spec.ID
	envs, proxyArgs := proxyEnv(id, len(m.spec.Proxies))
	c := ferryContainer(m.spec.Image, m.spec.SenderResources, append(m.senderArgs(s, rx), proxyArgs...)...)
	c.Env = append(envs, corev1.EnvVar{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"},
	}})
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "source", MountPath: volumesDir + "/source", ReadOnly: true})
	pod := &corev1.Pod{
		ObjectMeta: meta(id, "sender", s.Volume.Namespace, name(id, "tx", s.Volume.Name, strconv.Itoa(attempt))),
		Spec: corev1.PodSpec{
			Containers:         []corev1.Container{c},
			Volumes:            []corev1.Volume{secretVolume("certs", name(id, "certs")), claimVolume("source", s.Volume.Name, true)},
			RestartPolicy:      corev1.RestartPolicyNever,
			ServiceAccountName: name(id, "sender"),
			NodeName:           s.Node,
		},
	}
	pod.Labels["ferry.dev/claim"] = s.Volume.Name
	return m.secure(pod, m.spec.SenderGroups)
}

// probePod checks the data path from a source namespace to one receiver.
func (m *migration) probePod(namespace string, rx ReceiverPlan) *corev1.Pod {
	id := m.spec.ID
	envs, proxyArgs := proxyEnv(id, len(m.spec.Proxies))
	args := append([]string{"probe", "--connect", rx.Address, "--server-name", rx.Server, "--certs", certsDir}, proxyArgs...)
	c := ferryContainer(m.spec.Image, corev1.ResourceRequirements{}, args...)
	c.Env = envs
	return &corev1.Pod{
		ObjectMeta: meta(id, "probe", namespace, name(id, "probe", rx.Namespace)),
		Spec: corev1.PodSpec{
			Containers:                   []corev1.Container{c},
			Volumes:                      []corev1.Volume{secretVolume("certs", name(id, "certs"))},
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: ptr.To(false),
		},
	}
}

// progressName is the ConfigMap a volume's sender reports into.
func progressName(id string, v Volume) string { return name(id, "progress", v.Name) }

func (v Volume) targetNamespace() string {
	if v.TargetNamespace != "" {
		return v.TargetNamespace
	}
	return v.Namespace
}

func (v Volume) targetName() string {
	if v.TargetName != "" {
		return v.TargetName
	}
	return v.Name
}

// targetClaim is a target claim made like its source: size, access modes, storage class.
func targetClaim(v Volume, size int64) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: v.targetName(), Namespace: v.targetNamespace(),
			Labels: map[string]string{LabelManagedBy: managedBy}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: v.TargetAccessModes,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: *resource.NewQuantity(size, resource.BinarySI),
			}},
		},
	}
	if v.TargetStorageClass != "" {
		pvc.Spec.StorageClassName = &v.TargetStorageClass
	}
	return pvc
}

// secure applies the spec's pod-level security settings: supplemental groups, and
// privileged containers when asked.
func (m *migration) secure(pod *corev1.Pod, groups []int64) *corev1.Pod {
	if len(groups) > 0 {
		pod.Spec.SecurityContext = &corev1.PodSecurityContext{SupplementalGroups: groups}
	}
	if m.spec.Privileged {
		for i := range pod.Spec.Containers {
			pod.Spec.Containers[i].SecurityContext.Privileged = ptr.To(true)
		}
	}
	return pod
}
