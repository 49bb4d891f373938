package v1alpha1

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DirectVolumeMigration copies the data of persistent volume claims from one MigCluster to
// another, straight from the source's pods to a receiver on the target, through the
// data-path proxies of the MigrationController. Its spec is MTC's where MTC has the field;
// its status is ferry's own: progress per volume, in bytes and files.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=directvolumemigrations,scope=Namespaced,shortName=dvm
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=".status.phase"
// +kubebuilder:printcolumn:name="Progress",type=string,JSONPath=".status.progress"
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=".spec.migrationType",priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=".status.message",priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
type DirectVolumeMigration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says what to copy, from where to where.
	// +required
	Spec DirectVolumeMigrationSpec `json:"spec"`
	// Status is the progress of the copy.
	Status DirectVolumeMigrationStatus `json:"status,omitempty"`
}

// DirectVolumeMigrationList is a list of DirectVolumeMigration.
//
// +kubebuilder:object:root=true
type DirectVolumeMigrationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the DirectVolumeMigrations.
	Items []DirectVolumeMigration `json:"items"`
}

// MigrationType says whether a DirectVolumeMigration is a copy made while the application
// runs or the final one after it stopped. The values are MTC's.
//
// +kubebuilder:validation:Enum=Stage;CutOver
type MigrationType string

const (
	// MigrationTypeStage copies while the application still runs: files may change under
	// the copy, and a later copy sends only what changed.
	MigrationTypeStage MigrationType = "Stage"
	// MigrationTypeCutOver is the final copy, after the application stopped writing.
	// (MTC's Go name for it is MigrationTypeFinal; the value is CutOver.)
	MigrationTypeCutOver MigrationType = "CutOver"
)

// EndpointType is how the source reaches the receiver on the target cluster. The values
// are spelled as Kubernetes spells Service types and as MTC spells rsync_endpoint_type.
//
// +kubebuilder:validation:Enum=Route;Ingress;LoadBalancer;NodePort
type EndpointType string

const (
	// EndpointRoute is an OpenShift Route with TLS passthrough.
	EndpointRoute EndpointType = "Route"
	// EndpointIngress is an Ingress with TLS passthrough (ingress-nginx's
	// ssl-passthrough).
	EndpointIngress EndpointType = "Ingress"
	// EndpointLoadBalancer is a Service of type LoadBalancer.
	EndpointLoadBalancer EndpointType = "LoadBalancer"
	// EndpointNodePort is a Service of type NodePort, reached at a node's address.
	EndpointNodePort EndpointType = "NodePort"
)

// ParseEndpointType reads an endpoint type in any letter case ("nodeport", MTC's
// "NodePort"); ok is false for anything else, ClusterIP included.
func ParseEndpointType(s string) (t EndpointType, ok bool) {
	for _, e := range []EndpointType{EndpointRoute, EndpointIngress, EndpointLoadBalancer, EndpointNodePort} {
		if strings.EqualFold(s, string(e)) {
			return e, true
		}
	}
	return "", false
}

// DirectVolumeMigrationSpec says which claims to copy between which clusters.
type DirectVolumeMigrationSpec struct {
	// SrcMigClusterRef names the MigCluster (name and namespace) the data is copied from.
	// +required
	SrcMigClusterRef *corev1.ObjectReference `json:"srcMigClusterRef,omitempty"`
	// DestMigClusterRef names the MigCluster (name and namespace) the data is copied to.
	// +required
	DestMigClusterRef *corev1.ObjectReference `json:"destMigClusterRef,omitempty"`

	// PersistentVolumeClaims are the claims to copy, each once.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +listType=map
	// +listMapKey=namespace
	// +listMapKey=name
	PersistentVolumeClaims []PVCToMigrate `json:"persistentVolumeClaims,omitempty"`

	// CreateDestinationNamespaces creates the target namespaces that do not exist yet.
	CreateDestinationNamespaces bool `json:"createDestinationNamespaces,omitempty"`
	// DeleteProgressReportingCRs is MTC's request to delete its progress resources at the
	// end. ferry reports progress in this status and creates no such resources, so it has
	// no effect; it is accepted so that MTC's manifests apply as written.
	DeleteProgressReportingCRs bool `json:"deleteProgressReportingCRs,omitempty"`
	// BackOffLimit is how many times a volume's transfer is retried before the volume
	// fails. 0 means the MigrationController's rsync_backoff_limit, else 20 as in MTC. A
	// retry resumes where the previous attempt stopped.
	// +kubebuilder:validation:Minimum=0
	BackOffLimit int `json:"backOffLimit,omitempty"`
	// MigrationType is Stage (a copy while the application runs) or CutOver (the final
	// copy after it stopped). Unset means CutOver: one complete copy.
	MigrationType MigrationType `json:"migrationType,omitempty"`
	// Endpoint is how the source reaches the receiver on the target: Route, Ingress,
	// LoadBalancer or NodePort. Unset means the MigrationController's rsync_endpoint_type,
	// else Route on OpenShift and LoadBalancer elsewhere. This field is ferry's: MTC takes it
	// from the MigrationController only.
	Endpoint EndpointType `json:"endpoint,omitempty"`
}

// PVCReference names a persistent volume claim.
type PVCReference struct {
	// Name of the claim.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Namespace of the claim.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
}

// PVCToMigrate is a claim on the source cluster and the claim it becomes on the target.
type PVCToMigrate struct {
	// PVCReference is the claim on the source cluster.
	PVCReference `json:",inline"`

	// TargetName is the name of the claim on the target. Unset means the source's name.
	TargetName string `json:"targetName,omitempty"`
	// TargetNamespace is the namespace of the claim on the target. Unset means the
	// source's namespace.
	TargetNamespace string `json:"targetNamespace,omitempty"`
	// TargetStorageClass is the storage class of the claim on the target. Unset means the
	// target cluster's default storage class.
	TargetStorageClass string `json:"targetStorageClass,omitempty"`
	// TargetAccessModes are the access modes of the claim on the target. Unset means the
	// source claim's.
	// +kubebuilder:validation:items:Enum=ReadWriteOnce;ReadOnlyMany;ReadWriteMany;ReadWriteOncePod
	TargetAccessModes []corev1.PersistentVolumeAccessMode `json:"targetAccessModes,omitempty"`
	// Verify compares every file's content on the target with the source's after the
	// copy, by checksum.
	Verify bool `json:"verify,omitempty"`
}

// Phase is where a migration or one of its volumes stands.
type Phase string

const (
	// PhasePending has not started.
	PhasePending Phase = "Pending"
	// PhaseRunning is copying.
	PhaseRunning Phase = "Running"
	// PhaseSucceeded has copied everything (and verified it, when asked).
	PhaseSucceeded Phase = "Succeeded"
	// PhaseFailed has stopped without copying everything; the message says why.
	PhaseFailed Phase = "Failed"
)

// DirectVolumeMigrationStatus is the progress of a DirectVolumeMigration.
type DirectVolumeMigrationStatus struct {
	// Phase is Pending, Running, Succeeded or Failed.
	Phase Phase `json:"phase,omitempty"`
	// Conditions are the latest observations of the migration.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
	// ObservedGeneration is the metadata.generation the status describes.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// StartTimestamp is when the copy started.
	StartTimestamp *metav1.Time `json:"startTimestamp,omitempty"`
	// CompletionTimestamp is when the migration succeeded or failed.
	CompletionTimestamp *metav1.Time `json:"completionTimestamp,omitempty"`
	// Volumes is the progress of each claim.
	// +listType=atomic
	Volumes []VolumeProgress `json:"volumes,omitempty"`
	// TotalBytes is the size of the data to copy, over all volumes, once known.
	// +kubebuilder:validation:Minimum=0
	TotalBytes int64 `json:"totalBytes,omitempty"`
	// TransferredBytes is how much of it has gone out to the target, over all volumes:
	// the sum of the volumes' TransferredBytes (their Bytes, for a volume that reports
	// none).
	// +kubebuilder:validation:Minimum=0
	TransferredBytes int64 `json:"transferredBytes,omitempty"`
	// Progress is TransferredBytes as a percentage of TotalBytes, such as "42%", for
	// kubectl's Progress column.
	Progress string `json:"progress,omitempty"`
	// Message says what is happening or, after a failure, what went wrong and what to do.
	Message string `json:"message,omitempty"`
}

// VolumeProgress is the progress of one claim's copy.
type VolumeProgress struct {
	// PVCRef is the claim on the source cluster.
	// +required
	PVCRef PVCReference `json:"pvcRef"`
	// TargetName is the name of the claim on the target.
	TargetName string `json:"targetName,omitempty"`
	// Phase is Pending, Running, Succeeded or Failed.
	// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed
	Phase Phase `json:"phase,omitempty"`
	// Files is the number of files copied so far.
	// +kubebuilder:validation:Minimum=0
	Files int64 `json:"files,omitempty"`
	// TotalFiles is the number of files to copy, once known.
	// +kubebuilder:validation:Minimum=0
	TotalFiles int64 `json:"totalFiles,omitempty"`
	// Bytes is the number of bytes copied so far: the sizes of the files copied and
	// verified, whatever part of them had to travel.
	// +kubebuilder:validation:Minimum=0
	Bytes int64 `json:"bytes,omitempty"`
	// TotalBytes is the number of bytes to copy, once known.
	// +kubebuilder:validation:Minimum=0
	TotalBytes int64 `json:"totalBytes,omitempty"`
	// SentBytes is the file data that travelled: changed files send only their changed
	// blocks, so a re-run sends far less than Bytes.
	// +kubebuilder:validation:Minimum=0
	SentBytes int64 `json:"sentBytes,omitempty"`
	// TransferredBytes is how much of TotalBytes has gone out to the target: the file data
	// sent, and also what that data let the target take from its own copy (the unchanged
	// blocks of a changed file, the part of a cut file it kept). It reaches TotalBytes once
	// everything has gone out, before the target has verified it all (Bytes); progress
	// bars, the rate and the ETA follow it.
	// +kubebuilder:validation:Minimum=0
	TransferredBytes int64 `json:"transferredBytes,omitempty"`
	// RateBytesPerSecond is the recent transfer rate.
	// +kubebuilder:validation:Minimum=0
	RateBytesPerSecond int64 `json:"rateBytesPerSecond,omitempty"`
	// ETASeconds is the estimated time left, in seconds, once it can be estimated.
	// +kubebuilder:validation:Minimum=0
	ETASeconds int64 `json:"etaSeconds,omitempty"`
	// Retries is how many times the transfer was restarted after a failure.
	// +kubebuilder:validation:Minimum=0
	Retries int32 `json:"retries,omitempty"`
	// Message says what is happening to the volume or what went wrong.
	Message string `json:"message,omitempty"`
	// Verified is true once the target's content was checked against the source's.
	Verified bool `json:"verified,omitempty"`
}
