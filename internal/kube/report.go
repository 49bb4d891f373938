package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ferrydvm/ferry/api/v1alpha1"
)

// reportKey is the ConfigMap key a sender writes its Report under.
const reportKey = "report"

// Report is what a sender pod tells the migration, through its progress ConfigMap.
type Report struct {
	FilesDone   int64 `json:"files_done"`
	FilesNeeded int64 `json:"files_needed"`
	BytesDone   int64 `json:"bytes_done"`
	BytesNeeded int64 `json:"bytes_needed"`
	BytesSent   int64 `json:"bytes_sent"` // file data that travelled (literal bytes of deltas)
	// BytesTransferred is how much of BytesNeeded has gone out on the connection: the data
	// sent, the blocks a delta let the receiver reuse, the part of a cut file it kept (the
	// engine's Snapshot.BytesTransferred). Rate and ETA are computed from it, and the
	// migration's progress shows it.
	BytesTransferred int64 `json:"bytes_transferred"`
	WalkDone         bool  `json:"walk_done"`
	Rate             int64 `json:"rate_bytes_per_second"` // of BytesTransferred
	ETA              int64 `json:"eta_seconds"`           // -1 while unknown
	// Reconnects counts the sender's own resumptions after cut connections.
	Reconnects int `json:"reconnects"`
	// Done is set by the final report: the copy ended, Verified says whether every file
	// sent was verified and nothing failed.
	Done     bool     `json:"done"`
	Verified bool     `json:"verified"`
	Errors   []string `json:"errors,omitempty"`
}

// ConfigMapReporter writes a sender's reports into a ConfigMap of its own namespace,
// with the pod's service account (in-cluster configuration).
type ConfigMapReporter struct {
	client    kubernetes.Interface
	namespace string
	name      string
}

// NewConfigMapReporter reports into ConfigMap name of the pod's namespace (POD_NAMESPACE,
// else the service account's namespace).
func NewConfigMapReporter(name string) (*ConfigMapReporter, error) {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("report progress into ConfigMap %s: %w", name, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("report progress into ConfigMap %s: %w", name, err)
	}
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
		if err != nil {
			return nil, fmt.Errorf("report progress into ConfigMap %s: no POD_NAMESPACE and %w", name, err)
		}
		ns = strings.TrimSpace(string(b))
	}
	return &ConfigMapReporter{client: cs, namespace: ns, name: name}, nil
}

// Send writes one report.
func (r *ConfigMapReporter) Send(ctx context.Context, rep Report) error {
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	patch, _ := json.Marshal(map[string]any{"data": map[string]string{reportKey: string(b)}})
	_, err = r.client.CoreV1().ConfigMaps(r.namespace).Patch(ctx, r.name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("report progress into ConfigMap %s/%s: %w", r.namespace, r.name, err)
	}
	return nil
}

// readReport decodes the report in a progress ConfigMap; nil when there is none yet.
func readReport(cm *corev1.ConfigMap) (*Report, error) {
	s, ok := cm.Data[reportKey]
	if !ok {
		return nil, nil
	}
	var r Report
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return nil, fmt.Errorf("progress ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	return &r, nil
}

// applyTo copies the report into a volume's status. TotalBytes is what the sender needs
// to send, and never less than what it reports done or transferred, so that a bar drawn
// from the status never passes its end.
func (rep *Report) applyTo(s *v1alpha1.VolumeProgress) {
	s.Files, s.TotalFiles = rep.FilesDone, rep.FilesNeeded
	s.Bytes, s.SentBytes, s.TransferredBytes = rep.BytesDone, rep.BytesSent, rep.BytesTransferred
	s.TotalBytes = max(rep.BytesNeeded, rep.BytesDone, rep.BytesTransferred)
	// The status holds no negative numbers (the CRD says so): an ETA not known yet is 0 there,
	// with a rate of 0.
	s.RateBytesPerSecond, s.ETASeconds = max(rep.Rate, 0), max(rep.ETA, 0)
	s.Verified = rep.Done && rep.Verified
	if len(rep.Errors) > 0 {
		s.Message = fmt.Sprintf("%d errors, first: %s", len(rep.Errors), rep.Errors[0])
	}
}

// BytesTransferred is how far a volume's copy has gone, for progress bars and
// percentages: its TransferredBytes, or its Bytes (verified) when that is more, as it is
// in a status written before senders reported TransferredBytes.
func BytesTransferred(v v1alpha1.VolumeProgress) int64 { return max(v.Bytes, v.TransferredBytes) }
