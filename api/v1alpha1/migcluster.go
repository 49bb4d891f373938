package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SATokenKey is the key of the service account token in the Secret that
// MigClusterSpec.ServiceAccountSecretRef names, as in MTC.
const SATokenKey = "saToken"

// ConditionReady is the condition type that says a resource is usable: for a MigCluster,
// that its API server was reached with the credentials given.
const ConditionReady = "Ready"

// MigCluster is a cluster taking part in migrations and how to reach its API server. Its
// schema is MTC's, so MTC's MigCluster manifests work as written.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=migclusters,scope=Namespaced
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=".status.conditions[?(@.type=='Ready')].status"
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=".spec.url"
// +kubebuilder:printcolumn:name="Host",type=boolean,JSONPath=".spec.isHostCluster"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
type MigCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says where the cluster is and which credentials to use.
	// +required
	Spec MigClusterSpec `json:"spec"`
	// Status is what the controller observed.
	Status MigClusterStatus `json:"status,omitempty"`
}

// MigClusterList is a list of MigCluster.
//
// +kubebuilder:object:root=true
type MigClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the MigClusters.
	Items []MigCluster `json:"items"`
}

// MigClusterSpec is where a cluster is and how to authenticate to it. A remote cluster
// needs url and serviceAccountSecretRef; the host cluster (the one the controller runs in)
// needs neither.
//
// +kubebuilder:validation:XValidation:rule="(has(self.isHostCluster) && self.isHostCluster) || (has(self.url) && size(self.url) > 0 && has(self.serviceAccountSecretRef))",message="a cluster that is not the host cluster needs url and serviceAccountSecretRef"
type MigClusterSpec struct {
	// IsHostCluster marks the cluster the controller runs in: it is reached with the
	// controller's own service account, and url and serviceAccountSecretRef are ignored.
	// +kubebuilder:default=false
	IsHostCluster bool `json:"isHostCluster"`
	// URL is the address of the cluster's API server, for example
	// https://api.source.example.com:6443.
	// +kubebuilder:validation:Pattern=`^https?://`
	URL string `json:"url,omitempty"`
	// ServiceAccountSecretRef names the Secret (name and namespace) whose key saToken holds
	// a service account token for the cluster.
	ServiceAccountSecretRef *corev1.ObjectReference `json:"serviceAccountSecretRef,omitempty"`
	// CABundle holds the PEM certificates that the API server's certificate must chain to.
	// Empty means the system's roots.
	CABundle []byte `json:"caBundle,omitempty"`
	// Insecure skips verification of the API server's certificate. Use it only to try
	// things out: anyone on the path can then read the token.
	Insecure bool `json:"insecure,omitempty"`

	// AzureResourceGroup is MTC's setting for Velero on Azure. Accepted so that MTC's
	// manifests apply as written; ferry ignores it.
	AzureResourceGroup string `json:"azureResourceGroup,omitempty"`
	// ExposedRegistryPath is MTC's route to the cluster's image registry, for image
	// migration. Accepted so that MTC's manifests apply as written; ferry ignores it.
	ExposedRegistryPath string `json:"exposedRegistryPath,omitempty"`
	// RestartRestic is MTC's switch for restarting Velero's Restic pods. Accepted so that
	// MTC's manifests apply as written; ferry ignores it.
	RestartRestic *bool `json:"restartRestic,omitempty"`
	// Refresh is MTC's request to re-check the cluster. Accepted so that MTC's manifests
	// apply as written; ferry ignores it.
	Refresh bool `json:"refresh,omitempty"`
}

// MigClusterStatus is what the controller observed of a MigCluster.
type MigClusterStatus struct {
	// Conditions are the latest observations; Ready says whether the API server was
	// reached with the credentials given.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
	// ObservedGeneration is the metadata.generation the status describes.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}
