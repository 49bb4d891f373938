package cluster

import (
	"context"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// CreateCRD installs a CustomResourceDefinition and waits until it is established.
func (c *Cluster) CreateCRD(tb testing.TB, crd *apiextensionsv1.CustomResourceDefinition) {
	tb.Helper()
	ctx := context.Background()
	ext, err := apiextensionsclient.NewForConfig(c.RESTConfig())
	if err != nil {
		tb.Fatalf("build apiextensions client: %v", err)
	}
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("create CRD %s: %v", crd.Name, err)
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		tb.Fatalf("wait for CRD %s to be established: %v", crd.Name, err)
	}
}
