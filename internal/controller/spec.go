package controller

import (
	"fmt"
	"strings"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/kube"
)

// defaultBackoffLimit is MTC's number of retries of a volume's transfer.
const defaultBackoffLimit = 20

// buildSpec turns a DVM and the MigrationController's settings into a migration, without
// its clusters and endpoint (see chooseEndpoint). Errors name the field at fault.
func buildSpec(dvm *v1alpha1.DirectVolumeMigration, s *settings, image string) (kube.Spec, error) {
	sp := dvm.Spec
	spec := kube.Spec{
		ID:                 migrationID(string(dvm.UID)),
		Image:              image,
		Type:               sp.MigrationType,
		CreateTargetClaims: true,
		CreateNamespaces:   sp.CreateDestinationNamespaces,
		BackoffLimit:       sp.BackOffLimit,
		IngressDomain:      s.Spec.ClusterSubdomain,
	}
	if spec.Type == "" {
		spec.Type = v1alpha1.MigrationTypeCutOver // the DVM's default, not kube's
	}
	for _, p := range sp.PersistentVolumeClaims {
		spec.Volumes = append(spec.Volumes, kube.Volume{
			Namespace: p.Namespace, Name: p.Name,
			TargetNamespace: p.TargetNamespace, TargetName: p.TargetName,
			TargetStorageClass: p.TargetStorageClass, TargetAccessModes: p.TargetAccessModes,
			Checksum: p.Verify,
		})
	}
	err := spec.Apply(s.Effective, &s.Spec)
	if spec.BackoffLimit <= 0 {
		spec.BackoffLimit = defaultBackoffLimit
	}
	return spec, err
}

// migrationID names a DVM's migration objects after its UID, so that a run started again
// after a restart of the controller finds the objects of the run before it.
func migrationID(uid string) string {
	id := strings.ReplaceAll(strings.ToLower(uid), "-", "")
	return id[:min(len(id), 10)]
}

// chooseEndpoint is the DVM's endpoint, else the MigrationController's
// rsync_endpoint_type, else Route when the target serves Routes and LoadBalancer
// otherwise. servesRoutes is asked only when needed.
func chooseEndpoint(dvm *v1alpha1.DirectVolumeMigration, s *settings, servesRoutes func() (bool, error)) (v1alpha1.EndpointType, error) {
	if dvm.Spec.Endpoint != "" {
		return dvm.Spec.Endpoint, nil
	}
	t, err := s.Spec.EndpointType()
	if err != nil {
		return "", fmt.Errorf("%w; set one there or in the DVM's spec.endpoint", err)
	}
	if t != "" {
		return t, nil
	}
	routes, err := servesRoutes()
	if err != nil {
		return "", fmt.Errorf("find out whether the target cluster serves Routes: %w", err)
	}
	if routes {
		return v1alpha1.EndpointRoute, nil
	}
	return v1alpha1.EndpointLoadBalancer, nil
}
