package kube

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/config"
)

// Apply sets what a MigrationController says about migrations: the data-path proxies,
// the transfer options from its rsync_* fields (every one of config.TransferFlags:
// bandwidth, delete, checksum, compression; retries only where BackoffLimit is unset), the
// pods' resources, supplemental groups and privileges, and the Ingress domain. eff is the
// configuration resolved from it (internal/config); mc its spec, nil when absent.
// Errors name the field at fault.
func (s *Spec) Apply(eff *config.Effective, mc *v1alpha1.MigrationControllerSpec) error {
	var errs []error
	if eff != nil {
		for _, v := range eff.DataProxies {
			s.Proxies = append(s.Proxies, v.Raw())
		}
		tr := eff.Transfer
		if v := tr["bwlimit"]; v != nil {
			s.BandwidthLimit = v.Value
		}
		if v := tr["delete"]; v != nil && v.Value == "false" {
			s.NoDelete = true
		}
		if v := tr["checksum"]; v != nil && v.Value == "true" {
			s.Checksum = true
		}
		if v := tr["compress"]; v != nil && v.Value == "true" {
			s.Compress = true
		}
		if v := tr["retries"]; v != nil && s.BackoffLimit == 0 {
			n, err := strconv.Atoi(v.Value)
			if err != nil || n < 0 {
				errs = append(errs, fmt.Errorf("%s: want a number of retries, got %q", v.Source, v.Value))
			}
			s.BackoffLimit = n
		}
	}
	if mc == nil {
		return errors.Join(errs...)
	}
	if s.IngressDomain == "" {
		s.IngressDomain = mc.ClusterSubdomain
	}
	s.Privileged = s.Privileged || isTrue(mc.MigrationRsyncPrivileged) || isTrue(mc.MigrationRsyncSuperPrivileged)
	var err error
	s.SenderGroups, err = groups("src_supplemental_groups", mc.SrcSupplementalGroups)
	errs = append(errs, err)
	s.ReceiverGroups, err = groups("target_supplemental_groups", mc.TargetSupplementalGroups)
	errs = append(errs, err)
	s.SenderResources, err = podResources("source", mc.SourceRsyncPodCPURequests, mc.SourceRsyncPodMemoryRequests, mc.SourceRsyncPodCPULimits, mc.SourceRsyncPodMemoryLimits)
	errs = append(errs, err)
	s.ReceiverResources, err = podResources("target", mc.TargetRsyncPodCPURequests, mc.TargetRsyncPodMemoryRequests, mc.TargetRsyncPodCPULimits, mc.TargetRsyncPodMemoryLimits)
	errs = append(errs, err)
	return errors.Join(errs...)
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

func isTrue(b *bool) bool { return b != nil && *b }

// groups reads a comma-separated list of group IDs.
func groups(field, list string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("MigrationController spec.%s: %q is not a group ID", field, f)
		}
		out = append(out, n)
	}
	return out, nil
}
