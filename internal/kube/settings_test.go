package kube

import (
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/config"
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

// resolveController resolves a MigrationController spec written as YAML fields.
func resolveController(t *testing.T, fields string) *config.Effective {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte("spec:\n"+fields), &obj); err != nil {
		t.Fatal(err)
	}
	c, ignored, err := config.DecodeController(obj, "openshift-migration/migration-controller")
	if err != nil {
		t.Fatal(err)
	}
	eff, err := config.Resolve(config.Inputs{Controller: c, Ignored: ignored})
	if err != nil {
		t.Fatal(err)
	}
	return eff
}

// Every transfer option internal/config resolves reaches the Spec.
func TestApplyTransferOptions(t *testing.T) {
	eff := resolveController(t, `  rsync_opt_bwlimit: 500
  rsync_opt_delete: false
  rsync_backoff_limit: 7
  rsync_opt_extras: "--checksum -z"
`)
	var s Spec
	if err := s.Apply(eff, nil); err != nil {
		t.Fatal(err)
	}
	applied := map[string]bool{
		"bwlimit":  s.BandwidthLimit == "500",
		"delete":   s.NoDelete,
		"retries":  s.BackoffLimit == 7,
		"checksum": s.Checksum,
		"compress": s.Compress,
	}
	for _, flag := range config.TransferFlags {
		if eff.Transfer[flag] == nil {
			t.Errorf("transfer option %s not resolved: %+v", flag, eff.Transfer)
		} else if !applied[flag] {
			t.Errorf("transfer option %s = %s resolved but not applied: %+v", flag, eff.Transfer[flag].Value, s)
		}
	}
	for flag := range eff.Transfer {
		if !slices.Contains(config.TransferFlags, flag) {
			t.Errorf("transfer option %s is not one Apply knows", flag)
		}
	}
}
