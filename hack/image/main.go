// Command image builds ferry's container image without a container engine or a base
// image: one layer holding a static ferry binary at /ferry (mode 0755, owned by root) and
// an empty /tmp, on an empty base. The entrypoint is /ferry and PATH is /, so a pod's
// command "ferry" (as internal/kube writes it) finds it too. The image sets no user: the
// pods set their own securityContext, and the transfer pods run as root to keep owners.
//
// It writes a tarball that `docker load` and `podman load` read, and optionally an OCI
// image layout that `skopeo copy oci:DIR:TAG docker://...` and `crane push DIR REF` read,
// and prints the image's digest and ID. Nothing is pushed anywhere.
//
//	CGO_ENABLED=0 go build -o bin/image/ferry ./cmd/ferry
//	go run ./hack/image --binary bin/image/ferry --tag ferrydvm/ferry:dev \
//	    --tarball bin/ferry-image.tar --oci bin/ferry-oci
package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// options say what to build.
type options struct {
	Binary  string    // the static ferry binary
	Arch    string    // GOARCH the binary was built for
	Version string    // org.opencontainers.image.version
	Created time.Time // the image's creation time; zero means 1970-01-01, for a reproducible image
}

func main() {
	var o options
	var tag, tarPath, ociDir string
	flag.StringVar(&o.Binary, "binary", "bin/image/ferry", "static ferry binary (CGO_ENABLED=0 go build)")
	flag.StringVar(&o.Arch, "arch", runtime.GOARCH, "architecture the binary was built for (GOARCH)")
	flag.StringVar(&o.Version, "version", "dev", "version label")
	flag.StringVar(&tag, "tag", "ferrydvm/ferry:latest", "image reference recorded in the tarball and the layout")
	flag.StringVar(&tarPath, "tarball", "bin/ferry-image.tar", "write a docker-loadable tarball here (\"\" for none)")
	flag.StringVar(&ociDir, "oci", "", "also write an OCI image layout into this folder")
	flag.Parse()
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		sec, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			fail(fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970", epoch))
		}
		o.Created = time.Unix(sec, 0).UTC()
	}
	img, err := build(o)
	if err != nil {
		fail(err)
	}
	if err := write(img, tag, tarPath, ociDir); err != nil {
		fail(err)
	}
	digest, err := img.Digest()
	if err != nil {
		fail(err)
	}
	id, err := img.ConfigName()
	if err != nil {
		fail(err)
	}
	fmt.Printf("digest   %s (the OCI layout's; pushing the layout keeps it)\nimage ID %s (what docker load shows)\n", digest, id)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "image:", err)
	os.Exit(1)
}

// build makes the image of the binary o.Binary.
func build(o options) (v1.Image, error) {
	if o.Created.IsZero() {
		o.Created = time.Unix(0, 0).UTC()
	}
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("read the binary: %w", err)
	}
	if err := checkStatic(o.Binary); err != nil {
		return nil, err
	}
	data, err := layerTar(bin, o.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("make the layer: %w", err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: o.Created}, CreatedBy: "hack/image: ferry binary at /ferry", Comment: "ferry " + o.Version,
	}})
	if err != nil {
		return nil, fmt.Errorf("add the layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", o.Arch
	cfg.Created = v1.Time{Time: o.Created}
	cfg.Config.Entrypoint = []string{"/ferry"}
	cfg.Config.Env = []string{"PATH=/"}
	cfg.Config.WorkingDir = "/"
	cfg.Config.Labels = map[string]string{
		"org.opencontainers.image.title":       "ferry",
		"org.opencontainers.image.description": "Direct volume migration between Kubernetes clusters over end-to-end TLS, through HTTP CONNECT proxies",
		"org.opencontainers.image.source":      "https://github.com/ferrydvm/ferry",
		"org.opencontainers.image.version":     o.Version,
	}
	return mutate.ConfigFile(img, cfg)
}

// layerTar is the layer's content: /tmp (1777) and /ferry (0755), owned by root.
func layerTar(bin []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	entries := []struct {
		hdr  tar.Header
		body []byte
	}{
		{tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777}, nil},
		{tar.Header{Typeflag: tar.TypeReg, Name: "ferry", Mode: 0o755, Size: int64(len(bin))}, bin},
	}
	for _, e := range entries {
		e.hdr.ModTime, e.hdr.Format = mtime, tar.FormatPAX
		if err := tw.WriteHeader(&e.hdr); err != nil {
			return nil, fmt.Errorf("write the layer: %w", err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, fmt.Errorf("write the layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write the layer: %w", err)
	}
	return buf.Bytes(), nil
}

// checkStatic refuses a dynamically linked ELF binary: the image has no libc.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not an ELF binary: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New(path + " is dynamically linked: build it with CGO_ENABLED=0")
		}
	}
	return nil
}

// write stores the image as a docker-loadable tarball and as an OCI layout.
func write(img v1.Image, tag, tarPath, ociDir string) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("--tag %q: %w", tag, err)
	}
	if tarPath != "" {
		if err := tarball.WriteToFile(tarPath, ref, img); err != nil {
			return fmt.Errorf("write %s: %w", tarPath, err)
		}
	}
	if ociDir != "" {
		if err := os.RemoveAll(ociDir); err != nil {
			return err
		}
		p, err := layout.Write(ociDir, empty.Index)
		if err != nil {
			return fmt.Errorf("write the OCI layout %s: %w", ociDir, err)
		}
		ann := map[string]string{"org.opencontainers.image.ref.name": ref.TagStr(), "io.containerd.image.name": ref.Name()}
		if err := p.AppendImage(img, layout.WithAnnotations(ann)); err != nil {
			return fmt.Errorf("write the OCI layout %s: %w", ociDir, err)
		}
	}
	return nil
}
