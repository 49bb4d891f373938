package kube

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ferrydvm/ferry/api/v1alpha1"
)

// Cluster is one side of a migration.
type Cluster struct {
	// Name names the cluster in messages (a kubeconfig context, a MigCluster).
	Name    string
	Config  *rest.Config
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
}

// NewCluster builds the clients of a cluster from its configuration.
func NewCluster(name string, cfg *rest.Config) (*Cluster, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Cluster{Name: name, Config: cfg, Client: cs, Dynamic: dc}, nil
}

// Volume is one claim to copy and where it goes. Empty target fields mean the same
// namespace and name as the source.
type Volume struct {
	Namespace       string `json:"namespace"`
	Name            string `json:"name"`
	TargetNamespace string `json:"targetNamespace,omitempty"`
	TargetName      string `json:"targetName,omitempty"`
	// TargetStorageClass and TargetAccessModes apply when the target claim is created;
	// empty: the storage class map, then the source's.
	TargetStorageClass string                              `json:"targetStorageClass,omitempty"`
	TargetAccessModes  []corev1.PersistentVolumeAccessMode `json:"targetAccessModes,omitempty"`
	// Checksum compares this volume's files by content, not size and time (a DVM's
	// verify); Spec.Checksum does it for every volume.
	Checksum bool `json:"checksum,omitempty"`
}

// Spec is a migration. Zero values mean the defaults (see withDefaults).
type Spec struct {
	// ID names the migration's objects and labels them (ferry.dev/migration); a
	// random one when empty. Lower-case letters and digits, at most 12.
	ID             string
	Source, Target *Cluster
	Volumes        []Volume
	// Endpoint is how the source reaches the target's receivers; default Route.
	Endpoint v1alpha1.EndpointType
	// Proxies are the data-path proxies, in order (URLs that may hold credentials:
	// they reach the pods through a Secret only).
	Proxies []string
	// Image runs ferry in the pods; default DefaultImage.
	Image string
	// Type is Stage (a copy while the application runs) or CutOver (the final copy,
	// refused while a running pod still writes to a source claim); default Stage.
	Type v1alpha1.MigrationType
	// CreateTargetClaims creates missing target claims (size and access modes of the
	// source; storage class through StorageClassMap); otherwise a missing one is an error.
	CreateTargetClaims bool
	StorageClassMap    map[string]string
	// CreateNamespaces creates missing target namespaces.
	CreateNamespaces bool
	// BackoffLimit is how many times a failed sender is replaced; default 20
	// (rsync_backoff_limit).
	BackoffLimit int
	// NoDelete keeps files on the target that the source no longer has (MTC's
	// rsync_opt_delete: false); by default the target mirrors the source.
	NoDelete bool
	// Checksum compares content, not size and time, to find changed files.
	Checksum bool
	// Compress makes the senders compress the stream (zstd; MTC's rsync_opt_extras -z).
	Compress bool
	// BandwidthLimit is passed to the senders' --bwlimit ("" for none).
	BandwidthLimit string
	// IngressDomain is the domain of Ingress hosts (ferry-<id>-<namespace>.<domain>);
	// required for the Ingress endpoint.
	IngressDomain string
	// SenderResources and ReceiverResources are the pods' requests and limits.
	SenderResources, ReceiverResources corev1.ResourceRequirements
	// SenderGroups and ReceiverGroups are supplemental groups of the pods (for storage
	// that grants access by group, such as some NFS exports).
	SenderGroups, ReceiverGroups []int64
	// Privileged runs the pods privileged (SELinux-labelled or otherwise guarded volumes).
	Privileged bool
	// DryRun stops after the probe and prints the plan; nothing is copied.
	DryRun bool
	// ReadyTimeout bounds each wait for an object to be ready; default 3 minutes.
	ReadyTimeout time.Duration
}

// DefaultImage is the image of ferry's pods when Spec.Image is empty.
const DefaultImage = "ferrydvm/ferry:latest"

// Reporter receives what a migration does. Calls come from one goroutine.
type Reporter interface {
	// Step says what the migration does now ("creating the receiver in ns1").
	Step(msg string)
	// Progress gives every volume's state, about once a second while copying.
	Progress(volumes []v1alpha1.VolumeProgress)
}

// Result is the outcome of a migration.
type Result struct {
	// Plan describes what the migration set up (endpoint addresses, pods, nodes).
	Plan    Plan
	Volumes []v1alpha1.VolumeProgress
}

// Plan is what preflight found and decided.
type Plan struct {
	ID        string
	Endpoint  v1alpha1.EndpointType
	Receivers []ReceiverPlan
	Senders   []SenderPlan
}

// ReceiverPlan is one target namespace: its receiver and the address senders dial.
type ReceiverPlan struct {
	Namespace string   `json:"namespace"`
	Address   string   `json:"address"` // host:port senders connect to
	Server    string   `json:"server"`  // TLS server name (SNI)
	Claims    []string `json:"claims"`
}

// SenderPlan is one volume's sender.
type SenderPlan struct {
	Volume Volume `json:"volume"`
	Node   string `json:"node,omitempty"` // where the claim is mounted; "" when it is not in use
	Target string `json:"target"`         // namespace/claim on the target
	Size   int64  `json:"size"`           // the claim's capacity in bytes
}
