package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MigrationController is MTC's operator configuration (namespace openshift-migration, name
// migration-controller). ferry reads its proxy and DVM fields.
type MigrationController struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              MigrationControllerSpec `json:"spec,omitempty"`
}

// MigrationControllerSpec types the fields ferry uses, spelled as MTC spells them. MTC also
// accepts camelCase for the three proxy fields (httpProxy, httpsProxy, noProxy); the decoder
// in internal/config maps those here. Fields MTC knows and ferry does not use are kept in
// Other so that nothing is dropped silently.
type MigrationControllerSpec struct {
	// StunnelTCPProxy is the data-path proxy, http://user:password@host:port. Never
	// inherited from the cluster-wide proxy.
	StunnelTCPProxy string `json:"stunnel_tcp_proxy,omitempty"`
	// FerryTCPProxyChain is ferry's extension: data-path proxies in order, where MTC allows
	// one. When set it replaces stunnel_tcp_proxy (which may then only name the first hop).
	FerryTCPProxyChain []string `json:"ferry_tcp_proxy_chain,omitempty"`

	HTTPProxy  string `json:"http_proxy,omitempty"`
	HTTPSProxy string `json:"https_proxy,omitempty"`
	NoProxy    string `json:"no_proxy,omitempty"`

	RsyncOptBwlimit   *int64 `json:"rsync_opt_bwlimit,omitempty"` // KiB/s, when positive
	RsyncOptArchive   *bool  `json:"rsync_opt_archive,omitempty"`
	RsyncOptPartial   *bool  `json:"rsync_opt_partial,omitempty"`
	RsyncOptDelete    *bool  `json:"rsync_opt_delete,omitempty"`
	RsyncOptHardlinks *bool  `json:"rsync_opt_hardlinks,omitempty"`
	RsyncOptInfo      string `json:"rsync_opt_info,omitempty"`
	RsyncOptExtras    string `json:"rsync_opt_extras,omitempty"`
	RsyncBackoffLimit *int64 `json:"rsync_backoff_limit,omitempty"`
	// RsyncEndpointType is Route, NodePort or ClusterIP.
	RsyncEndpointType string `json:"rsync_endpoint_type,omitempty"`
	ClusterSubdomain  string `json:"cluster_subdomain,omitempty"`

	SourceRsyncPodCPULimits      string `json:"source_rsync_pod_cpu_limits,omitempty"`
	SourceRsyncPodMemoryLimits   string `json:"source_rsync_pod_memory_limits,omitempty"`
	SourceRsyncPodCPURequests    string `json:"source_rsync_pod_cpu_requests,omitempty"`
	SourceRsyncPodMemoryRequests string `json:"source_rsync_pod_memory_requests,omitempty"`
	TargetRsyncPodCPULimits      string `json:"target_rsync_pod_cpu_limits,omitempty"`
	TargetRsyncPodMemoryLimits   string `json:"target_rsync_pod_memory_limits,omitempty"`
	TargetRsyncPodCPURequests    string `json:"target_rsync_pod_cpu_requests,omitempty"`
	TargetRsyncPodMemoryRequests string `json:"target_rsync_pod_memory_requests,omitempty"`

	SrcSupplementalGroups         string `json:"src_supplemental_groups,omitempty"`
	TargetSupplementalGroups      string `json:"target_supplemental_groups,omitempty"`
	MigrationRsyncPrivileged      *bool  `json:"migration_rsync_privileged,omitempty"`
	MigrationRsyncSuperPrivileged *bool  `json:"migration_rsync_super_privileged,omitempty"`

	// Other holds every other field as it was written (JSON values).
	Other map[string]any `json:"-"`
}
