// Package v1alpha1 holds the custom resource types ferry reads and reconciles. The
// MigrationController type is MTC's (group migration.openshift.io), so the manifests from
// the MTC documentation work as written; ferry types the fields it uses and keeps the rest.
package v1alpha1

// GroupName is MTC's API group.
const GroupName = "migration.openshift.io"

// Version of these types.
const Version = "v1alpha1"
