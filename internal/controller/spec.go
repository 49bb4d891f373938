package controller

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/kube"
)

// defaultBackoffLimit is MTC's number of retries of a volume's transfer.
const defaultBackoffLimit = 20

// buildSpec turns a DVM and the MigrationController's settings into a migration, without
// its clusters and endpoint (see chooseEndpoint). Errors name the field at fault.
func buildSpec(dvm *v1alpha1.DirectVolumeMigration, s *settings, image string) (kube.Spec, error) {
	sp := dvm.Spec
	spec := kube.Spec{
		ID:                 migrationID(string(dvm.UID)),
		Image:              image,
		Type:               sp.MigrationType,
		CreateTargetClaims: true,
		CreateNamespaces:   sp.CreateDestinationNamespaces,
		BackoffLimit:       sp.BackOffLimit,
		IngressDomain:      s.Spec.ClusterSubdomain,
	}
	if spec.Type == "" {
		spec.Type = v1alpha1.MigrationTypeCutOver // the DVM's default, not kube's
	}
	for _, p := range sp.PersistentVolumeClaims {
		spec.Volumes = append(spec.Volumes, kube.Volume{
			Namespace: p.Namespace, Name: p.Name,
			TargetNamespace: p.TargetNamespace, TargetName: p.TargetName,
			TargetStorageClass: p.TargetStorageClass, TargetAccessModes: p.TargetAccessModes,
		})
		// kube.Spec has one Checksum for all volumes: verifying one verifies all.
		spec.Checksum = spec.Checksum || p.Verify
	}
	for _, v := range s.Effective.DataProxies {
		spec.Proxies = append(spec.Proxies, v.Raw())
	}
	var errs []error
	tr := s.Effective.Transfer
	if v := tr["bwlimit"]; v != nil {
		spec.BandwidthLimit = v.Value
	}
	if v := tr["delete"]; v != nil && v.Value == "false" {
		spec.NoDelete = true
	}
	if v := tr["checksum"]; v != nil && v.Value == "true" {
		spec.Checksum = true
	}
	if v := tr["retries"]; v != nil && spec.BackoffLimit == 0 {
		n, err := strconv.Atoi(v.Value)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("%s: want a number of retries, got %q", v.Source, v.Value))
		}
		spec.BackoffLimit = n
	}
	if spec.BackoffLimit <= 0 {
		spec.BackoffLimit = defaultBackoffLimit
	}
	var err error
	m := s.Spec
	spec.SenderResources, err = podResources("source", m.SourceRsyncPodCPURequests, m.SourceRsyncPodMemoryRequests, m.SourceRsyncPodCPULimits, m.SourceRsyncPodMemoryLimits)
	errs = append(errs, err)
	spec.ReceiverResources, err = podResources("target", m.TargetRsyncPodCPURequests, m.TargetRsyncPodMemoryRequests, m.TargetRsyncPodCPULimits, m.TargetRsyncPodMemoryLimits)
	errs = append(errs, err)
	return spec, errors.Join(errs...)
}

// migrationID names a DVM's migration objects after its UID, so that a run started again
// after a restart of the controller finds the objects of the run before it.
func migrationID(uid string) string {
	id := strings.ReplaceAll(strings.ToLower(uid), "-", "")
	return id[:min(len(id), 10)]
}

// podResources reads the MigrationController's resource fields of one side's pods.
func podResources(side, cpuReq, memReq, cpuLim, memLim string) (corev1.ResourceRequirements, error) {
	var rr corev1.ResourceRequirements
	var errs []error
	for _, f := range []struct {
		field, value string
		list         *corev1.ResourceList
		name         corev1.ResourceName
	}{
		{side + "_rsync_pod_cpu_requests", cpuReq, &rr.Requests, corev1.ResourceCPU},
		{side + "_rsync_pod_memory_requests", memReq, &rr.Requests, corev1.ResourceMemory},
		{side + "_rsync_pod_cpu_limits", cpuLim, &rr.Limits, corev1.ResourceCPU},
		{side + "_rsync_pod_memory_limits", memLim, &rr.Limits, corev1.ResourceMemory},
	} {
		if f.value == "" {
			continue
		}
		q, err := resource.ParseQuantity(f.value)
		if err != nil {
			errs = append(errs, fmt.Errorf("MigrationController spec.%s: %q is not a quantity (such as 500m or 1Gi)", f.field, f.value))
			continue
		}
		if *f.list == nil {
			*f.list = corev1.ResourceList{}
		}
		(*f.list)[f.name] = q
	}
	return rr, errors.Join(errs...)
}

// chooseEndpoint is the DVM's endpoint, else the MigrationController's
// rsync_endpoint_type, else Route when the target serves Routes and LoadBalancer
// otherwise. servesRoutes is asked only when needed.
func chooseEndpoint(dvm *v1alpha1.DirectVolumeMigration, s *settings, servesRoutes func() (bool, error)) (v1alpha1.EndpointType, error) {
	if dvm.Spec.Endpoint != "" {
		return dvm.Spec.Endpoint, nil
	}
	if t := s.Spec.RsyncEndpointType; t != "" {
		for _, e := range []v1alpha1.EndpointType{v1alpha1.EndpointRoute, v1alpha1.EndpointIngress, v1alpha1.EndpointLoadBalancer, v1alpha1.EndpointNodePort} {
			if strings.EqualFold(t, string(e)) {
				return e, nil
			}
		}
		return "", fmt.Errorf("MigrationController spec.rsync_endpoint_type %q: ferry reaches the target through Route, Ingress, LoadBalancer or NodePort (ClusterIP would need one network for both clusters); set one there or in the DVM's spec.endpoint", t)
	}
	routes, err := servesRoutes()
	if err != nil {
		return "", fmt.Errorf("find out whether the target cluster serves Routes: %w", err)
	}
	if routes {
		return v1alpha1.EndpointRoute, nil
	}
	return v1alpha1.EndpointLoadBalancer, nil
}
