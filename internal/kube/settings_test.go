package kube

import (
	"slices"
	"strings"
	"testing"

	"github.com/ferrydvm/ferry/api/v1alpha1"
)

func TestApplyController(t *testing.T) {
	yes := true
	mc := &v1alpha1.MigrationControllerSpec{
		SrcSupplementalGroups:      "5555, 6666",
		TargetSupplementalGroups:   "7777",
		MigrationRsyncPrivileged:   &yes,
		SourceRsyncPodCPULimits:    "2",
		TargetRsyncPodMemoryLimits: "1Gi",
		ClusterSubdomain:           "apps.example.com",
	}
	var s Spec
	if err := s.Apply(nil, mc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.SenderGroups, []int64{5555, 6666}) || !slices.Equal(s.ReceiverGroups, []int64{7777}) || !s.Privileged {
		t.Errorf("groups %v %v, privileged %v", s.SenderGroups, s.ReceiverGroups, s.Privileged)
	}
	if s.SenderResources.Limits.Cpu().String() != "2" || s.ReceiverResources.Limits.Memory().String() != "1Gi" || s.IngressDomain != "apps.example.com" {
		t.Errorf("resources %v %v, domain %q", s.SenderResources, s.ReceiverResources, s.IngressDomain)
	}

	m := testMigration(t, func(sp *Spec) { sp.SenderGroups, sp.Privileged = s.SenderGroups, true })
	pod := m.senderPod(SenderPlan{Volume: Volume{Namespace: "a", Name: "b", Checksum: true}}, ReceiverPlan{Address: "h:1", Server: "h"}, 0)
	if !slices.Equal(pod.Spec.SecurityContext.SupplementalGroups, []int64{5555, 6666}) || !*pod.Spec.Containers[0].SecurityContext.Privileged {
		t.Errorf("pod security %+v %+v", pod.Spec.SecurityContext, pod.Spec.Containers[0].SecurityContext)
	}
	if !slices.Contains(pod.Spec.Containers[0].Args, "--checksum") {
		t.Errorf("a volume to verify is not compared by content: %v", pod.Spec.Containers[0].Args)
	}

	for field, bad := range map[string]*v1alpha1.MigrationControllerSpec{
		"src_supplemental_groups":     {SrcSupplementalGroups: "wheel"},
		"target_rsync_pod_cpu_limits": {TargetRsyncPodCPULimits: "lots"},
	} {
		var s Spec
		if err := s.Apply(nil, bad); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: error %v", field, err)
		}
	}
}
