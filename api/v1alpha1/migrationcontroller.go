package v1alpha1

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MigrationController is MTC's operator configuration (namespace openshift-migration, name
// migration-controller). ferry reads its proxy and DVM fields.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=migrationcontrollers,scope=Namespaced
type MigrationController struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is MTC's operator configuration, spelled as in MTC's documentation. Fields that
	// ferry does not type are kept as they were written.
	// +kubebuilder:pruning:PreserveUnknownFields
	Spec MigrationControllerSpec `json:"spec,omitempty"`
}

// MigrationControllerList is a list of MigrationController.
//
// +kubebuilder:object:root=true
type MigrationControllerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the MigrationControllers.
	Items []MigrationController `json:"items"`
}

// MigrationControllerSpec types the fields ferry uses, spelled as MTC spells them. MTC also
// accepts camelCase for the three proxy fields (httpProxy, httpsProxy, noProxy); the decoder
// in internal/config maps those here. Fields MTC knows and ferry does not use are kept in
// Other so that nothing is dropped silently.
//
// Read a spec with internal/config (DecodeController), not by decoding JSON into this type:
// MTC's operator takes "true" and "100" as strings for its boolean and integer fields, and
// the camelCase spellings, and only that decoder does too; encoding/json skips Other.
//
// The CRD admits what that decoder accepts: the string fields are typed, while the boolean
// and integer fields carry no type (booleans) or are int-or-string (integers), because
// MTC's operator, an Ansible one, takes "true" and "100" as well as true and 100.
type MigrationControllerSpec struct {
	// StunnelTCPProxy is the data-path proxy, http://user:password@host:port. Never
	// inherited from the cluster-wide proxy.
	StunnelTCPProxy string `json:"stunnel_tcp_proxy,omitempty"`
	// FerryTCPProxyChain is ferry's extension: data-path proxies in order, where MTC allows
	// one. When set it replaces stunnel_tcp_proxy (which may then only name the first hop).
	FerryTCPProxyChain []string `json:"ferry_tcp_proxy_chain,omitempty"`

	// HTTPProxy is the proxy for http:// requests to API servers (also spelled httpProxy).
	// It overrides the cluster-wide proxy; the data path never uses it.
	HTTPProxy string `json:"http_proxy,omitempty"`
	// HTTPSProxy is the proxy for https:// requests to API servers (also spelled
	// httpsProxy). It overrides the cluster-wide proxy; the data path never uses it.
	HTTPSProxy string `json:"https_proxy,omitempty"`
	// NoProxy lists the hosts, domains and CIDRs reached without HTTPProxy and HTTPSProxy
	// (also spelled noProxy), comma-separated.
	NoProxy string `json:"no_proxy,omitempty"`

	// RsyncOptBwlimit limits each volume's transfer to this many KiB/s, when positive.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:XIntOrString
	RsyncOptBwlimit *int64 `json:"rsync_opt_bwlimit,omitempty"`
	// RsyncOptArchive is MTC's switch for rsync's --archive (true or false).
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	RsyncOptArchive *bool `json:"rsync_opt_archive,omitempty"`
	// RsyncOptPartial is MTC's switch for keeping partially transferred files (true or false).
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	RsyncOptPartial *bool `json:"rsync_opt_partial,omitempty"`
	// RsyncOptDelete is MTC's switch for deleting target files absent from the source (true
	// or false).
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	RsyncOptDelete *bool `json:"rsync_opt_delete,omitempty"`
	// RsyncOptHardlinks is MTC's switch for preserving hard links (true or false).
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	RsyncOptHardlinks *bool `json:"rsync_opt_hardlinks,omitempty"`
	// RsyncOptInfo is MTC's value for rsync's --info.
	RsyncOptInfo string `json:"rsync_opt_info,omitempty"`
	// RsyncOptExtras are extra rsync options, space-separated.
	RsyncOptExtras string `json:"rsync_opt_extras,omitempty"`
	// RsyncBackoffLimit is how many times a volume's transfer is retried.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:XIntOrString
	RsyncBackoffLimit *int64 `json:"rsync_backoff_limit,omitempty"`
	// RsyncEndpointType is Route, NodePort or ClusterIP.
	RsyncEndpointType string `json:"rsync_endpoint_type,omitempty"`
	// ClusterSubdomain is the domain under which routes of the target cluster are named.
	ClusterSubdomain string `json:"cluster_subdomain,omitempty"`

	// SourceRsyncPodCPULimits is the CPU limit of the source-side transfer pods.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	SourceRsyncPodCPULimits string `json:"source_rsync_pod_cpu_limits,omitempty"`
	// SourceRsyncPodMemoryLimits is the memory limit of the source-side transfer pods.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	SourceRsyncPodMemoryLimits string `json:"source_rsync_pod_memory_limits,omitempty"`
	// SourceRsyncPodCPURequests is the CPU request of the source-side transfer pods.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	SourceRsyncPodCPURequests string `json:"source_rsync_pod_cpu_requests,omitempty"`
	// SourceRsyncPodMemoryRequests is the memory request of the source-side transfer pods.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	SourceRsyncPodMemoryRequests string `json:"source_rsync_pod_memory_requests,omitempty"`
	// TargetRsyncPodCPULimits is the CPU limit of the target-side transfer pods.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	TargetRsyncPodCPULimits string `json:"target_rsync_pod_cpu_limits,omitempty"`
	// TargetRsyncPodMemoryLimits is the memory limit of the target-side transfer pods.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	TargetRsyncPodMemoryLimits string `json:"target_rsync_pod_memory_limits,omitempty"`
	// TargetRsyncPodCPURequests is the CPU request of the target-side transfer pods.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	TargetRsyncPodCPURequests string `json:"target_rsync_pod_cpu_requests,omitempty"`
	// TargetRsyncPodMemoryRequests is the memory request of the target-side transfer pods.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	TargetRsyncPodMemoryRequests string `json:"target_rsync_pod_memory_requests,omitempty"`

	// SrcSupplementalGroups are supplemental group IDs of the source-side transfer pods,
	// comma-separated.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	SrcSupplementalGroups string `json:"src_supplemental_groups,omitempty"`
	// TargetSupplementalGroups are supplemental group IDs of the target-side transfer
	// pods, comma-separated.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	TargetSupplementalGroups string `json:"target_supplemental_groups,omitempty"`
	// MigrationRsyncPrivileged runs the transfer pods privileged (true or false).
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	MigrationRsyncPrivileged *bool `json:"migration_rsync_privileged,omitempty"`
	// MigrationRsyncSuperPrivileged runs the transfer pods privileged and as root (true or
	// false).
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	MigrationRsyncSuperPrivileged *bool `json:"migration_rsync_super_privileged,omitempty"`

	// Other holds every other field as it was written (JSON values). It is not part of the
	// schema: the CRD keeps these fields because the spec preserves unknown fields.
	Other JSONObject `json:"-"`
}

// EndpointType is the endpoint rsync_endpoint_type names, "" when it is unset. A value ferry
// has no endpoint for (MTC's ClusterIP, a typo) is an error that names the field.
func (s *MigrationControllerSpec) EndpointType() (EndpointType, error) {
	if s.RsyncEndpointType == "" {
		return "", nil
	}
	if t, ok := ParseEndpointType(s.RsyncEndpointType); ok {
		return t, nil
	}
	return "", fmt.Errorf("MigrationController spec.rsync_endpoint_type %q: ferry reaches the target through Route, Ingress, LoadBalancer or NodePort (ClusterIP would need one network for both clusters)", s.RsyncEndpointType)
}
