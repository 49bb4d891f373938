package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is MTC's API group.
const GroupName = "migration.openshift.io"

// Version of these types.
const Version = "v1alpha1"

// SchemeGroupVersion is the group and version the types of this package are registered as.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: Version}

var (
	// SchemeBuilder registers this package's types. It is apimachinery's, so that importing
	// the API types does not bring in controller-runtime.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds this package's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Resource qualifies a resource name (plural, lower case) with this package's group.
func Resource(resource string) schema.GroupResource {
	return SchemeGroupVersion.WithResource(resource).GroupResource()
}

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion,
		&MigrationController{}, &MigrationControllerList{},
		&MigCluster{}, &MigClusterList{},
		&DirectVolumeMigration{}, &DirectVolumeMigrationList{},
	)
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}
