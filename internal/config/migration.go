package config

import (
	"github.com/ferrydvm/ferry/api/v1alpha1"
)

// MigrationFields are the MigrationController fields about the migrations' endpoint and
// pods, in the order explain prints them. kube.Spec.Apply and the controller use them.
var MigrationFields = []string{
	"rsync_endpoint_type", "cluster_subdomain",
	"source_rsync_pod_cpu_requests", "source_rsync_pod_memory_requests",
	"source_rsync_pod_cpu_limits", "source_rsync_pod_memory_limits",
	"target_rsync_pod_cpu_requests", "target_rsync_pod_memory_requests",
	"target_rsync_pod_cpu_limits", "target_rsync_pod_memory_limits",
	"src_supplemental_groups", "target_supplemental_groups",
	"migration_rsync_privileged", "migration_rsync_super_privileged",
}

// migration records the MigrationFields that are set, with notes where ferry's use
// differs from MTC's.
func (e *Effective) migration(spec specView) {
	for _, field := range MigrationFields {
		v := spec.get(field)
		if v == nil {
			continue
		}
		v = v.masked(false)
		v.Note = migrationNote(field, v.raw)
		if e.Migration == nil {
			e.Migration = map[string]*Value{}
		}
		e.Migration[field] = v
	}
}

func migrationNote(field, value string) string {
	switch field {
	case "rsync_endpoint_type":
		if _, ok := v1alpha1.ParseEndpointType(value); ok {
			return "the endpoint of DVMs without spec.endpoint and of ferry migrate without --endpoint"
		}
		return "not an endpoint ferry has (Route, Ingress, LoadBalancer, NodePort): DVMs without spec.endpoint and ferry migrate without --endpoint are refused"
	case "migration_rsync_super_privileged":
		return "ferry runs its pods privileged, as migration_rsync_privileged does"
	}
	return ""
}
