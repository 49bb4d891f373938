package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
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

// InstallCRDs creates every CustomResourceDefinition in the given YAML files (several
// documents per file; documents of other kinds are an error) and waits for each.
func (c *Cluster) InstallCRDs(tb testing.TB, files ...string) {
	tb.Helper()
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			tb.Fatalf("install CRDs: %v", err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				tb.Fatalf("install CRDs from %s: %v", file, err)
			}
			if len(bytes.TrimSpace(doc)) == 0 || isComment(doc) {
				continue
			}
			var crd apiextensionsv1.CustomResourceDefinition
			if err := yaml.UnmarshalStrict(doc, &crd); err != nil {
				tb.Fatalf("install CRDs from %s: %v", file, err)
			}
			if crd.Kind != "CustomResourceDefinition" {
				tb.Fatalf("install CRDs from %s: a document of kind %q", file, crd.Kind)
			}
			c.CreateCRD(tb, &crd)
		}
	}
}

// isComment tells whether a YAML document holds nothing but comments.
func isComment(doc []byte) bool {
	for line := range strings.Lines(string(doc)) {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}
