// Package v1alpha1 holds the custom resource types ferry reads and reconciles, in MTC's API
// group migration.openshift.io so that MTC's manifests work as written:
//
//   - MigrationController, MTC's operator configuration: ferry types the fields it uses and
//     keeps every other field as written;
//   - MigCluster, a cluster and how to reach its API server;
//   - DirectVolumeMigration, a set of persistent volume claims to copy from one MigCluster
//     to another, with ferry's progress in its status.
//
// The types register in a runtime.Scheme through AddToScheme. zz_generated.deepcopy.go and
// the CRDs in config/crd/bases are generated from this package by controller-gen: run
// `make generate` after changing a type, a doc comment or a marker.
//
// +kubebuilder:object:generate=true
// +kubebuilder:validation:Optional
// +groupName=migration.openshift.io
package v1alpha1
