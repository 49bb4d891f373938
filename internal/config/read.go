package config

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// The resources ferry reads.
var (
	MigrationControllers = schema.GroupVersionResource{Group: "migration.openshift.io", Version: "v1alpha1", Resource: "migrationcontrollers"}
	Proxies              = schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "proxies"}
	ClusterVersions      = schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "clusterversions"}
)

// DefaultNamespace is where MTC keeps its MigrationController.
const DefaultNamespace = "openshift-migration"

// ReadFiles reads multi-document YAML (or JSON) files holding a MigrationController, a
// Proxy and a ClusterVersion, in any order. Other kinds are reported, not read.
func ReadFiles(paths []string, in *Inputs) error {
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read config: %w", err)
		}
		if err := readDocuments(p, data, in); err != nil {
			return err
		}
	}
	return nil
}

func readDocuments(name string, data []byte, in *Inputs) error {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", name, n, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return fmt.Errorf("%s: document %d is not YAML: %w", name, n, err)
		}
		if obj == nil {
			continue
		}
		if err := addObject(obj, fmt.Sprintf("%s document %d", name, n), in); err != nil {
			return err
		}
	}
}

// addObject files one object into the inputs by its kind.
func addObject(obj map[string]any, where string, in *Inputs) error {
	kind, _ := obj["kind"].(string)
	apiVersion, _ := obj["apiVersion"].(string)
	ref, suffix := where, ""
	if md, ok := obj["metadata"].(map[string]any); ok {
		ns, _ := md["namespace"].(string)
		name, _ := md["name"].(string)
		if name != "" {
			ref = name
			if ns != "" {
				ref = ns + "/" + name
			}
			if where != "cluster" {
				suffix = " (" + where + ")"
			}
		}
	}
	switch {
	case kind == "MigrationController" && apiVersion == MigrationControllers.GroupVersion().String():
		if in.Controller != nil {
			return fmt.Errorf("two MigrationControllers (%s%s and %s%s): give one", in.Controller.Ref, in.Controller.Where, ref, suffix)
		}
		c, ignored, err := DecodeController(obj, ref)
		if err != nil {
			return err
		}
		c.Where = suffix
		in.Controller = c
		in.Ignored = append(in.Ignored, ignored...)
	case kind == "Proxy" && apiVersion == Proxies.GroupVersion().String():
		p := &ClusterProxy{Ref: ref + suffix}
		if err := remarshal(obj["spec"], &p.Spec); err != nil {
			return fmt.Errorf("Proxy %s: spec: %w", ref, err)
		}
		if err := remarshal(obj["status"], &p.Status); err != nil {
			return fmt.Errorf("Proxy %s: status: %w", ref, err)
		}
		in.ClusterProxy = p
	case kind == "ClusterVersion" && apiVersion == ClusterVersions.GroupVersion().String():
		var st struct {
			Desired struct {
				Version string `json:"version"`
			} `json:"desired"`
		}
		if err := remarshal(obj["status"], &st); err != nil {
			return fmt.Errorf("ClusterVersion %s: status: %w", ref, err)
		}
		in.ClusterVersion, in.VersionRef = st.Desired.Version, ref+suffix
	default:
		in.Ignored = append(in.Ignored, Ignored{Field: where, Reason: fmt.Sprintf("kind %q (%s) is not read", kind, apiVersion)})
	}
	return nil
}

func remarshal(v any, out any) error {
	if v == nil {
		return nil
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	return yaml.Unmarshal(b, out)
}

// ReadCluster reads the MigrationController in namespace (the one named
// migration-controller, or the only one), the Proxy "cluster" and the ClusterVersion
// "version". Objects or resource types the cluster does not have are simply absent. A
// Proxy or ClusterVersion the caller may not read (RBAC) is treated as absent too, and
// recorded in in.Unreadable so that the output can say so.
func ReadCluster(ctx context.Context, dc dynamic.Interface, namespace string, in *Inputs) error {
	list, err := dc.Resource(MigrationControllers).Namespace(namespace).List(ctx, metav1.ListOptions{})
	switch {
	case absent(err):
	case err != nil:
		return fmt.Errorf("list MigrationControllers in %s: %w", namespace, err)
	default:
		pick, err := pickController(list.Items, namespace)
		if err != nil {
			return err
		}
		if pick != nil {
			if err := addObject(pick.Object, "cluster", in); err != nil {
				return err
			}
		}
	}
	for _, o := range []struct {
		gvr  schema.GroupVersionResource
		name string
		lost string
	}{
		{Proxies, "cluster", "the cluster-wide proxy is not applied"},
		{ClusterVersions, "version", "the cluster version is unknown: a cluster Proxy, if read, applies"},
	} {
		obj, err := dc.Resource(o.gvr).Get(ctx, o.name, metav1.GetOptions{})
		if absent(err) {
			continue
		}
		if apierrors.IsForbidden(err) {
			in.Unreadable = append(in.Unreadable, Unreadable{
				Object: fmt.Sprintf("%s.%s %q", o.gvr.Resource, o.gvr.Group, o.name),
				Reason: fmt.Sprintf("forbidden: treated as absent, so %s; grant get on it, or set the proxies in the MigrationController", o.lost),
			})
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s %q: %w", o.gvr.Resource, o.name, err)
		}
		if err := addObject(obj.Object, "cluster", in); err != nil {
			return err
		}
	}
	return nil
}

// DefaultControllerName is the name MTC's documentation gives the MigrationController.
const DefaultControllerName = "migration-controller"

// pickController is the MigrationController named migration-controller, else the only
// one; nil when there is none.
func pickController(items []unstructured.Unstructured, namespace string) (*unstructured.Unstructured, error) {
	var names []string
	for i := range items {
		if items[i].GetName() == DefaultControllerName {
			return &items[i], nil
		}
		names = append(names, items[i].GetName())
	}
	switch len(items) {
	case 0:
		return nil, nil
	case 1:
		return &items[0], nil
	}
	return nil, fmt.Errorf("read the MigrationController of %s: there are %d (%s) and none is named %s, the one ferry reads, as MTC does: keep one, or create the one to use under that name",
		namespace, len(items), strings.Join(names, ", "), DefaultControllerName)
}

func absent(err error) bool {
	return err != nil && (apierrors.IsNotFound(err) || meta.IsNoMatchError(err))
}
