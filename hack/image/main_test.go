package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// staticBinary builds a tiny program with CGO_ENABLED=0.
func staticBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"ferry stand-in\") }\n"), 0o644)
	bin := filepath.Join(dir, "ferry")
	cmd := exec.Command("go", "build", "-o", bin, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestImage(t *testing.T) {
	bin := staticBinary(t)
	want, _ := os.ReadFile(bin)
	img, err := build(options{Binary: bin, Arch: "amd64", Version: "v1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tarPath, ociDir := filepath.Join(dir, "image.tar"), filepath.Join(dir, "oci")
	const tag = "registry.example.com/ferry:v1.2.3"
	if err := write(img, tag, tarPath, ociDir); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()

	// What `docker load` reads.
	ref, _ := name.NewTag(tag)
	loaded, err := tarball.ImageFromPath(tarPath, &ref)
	if err != nil {
		t.Fatal(err)
	}
	// docker load keeps the config (the image ID), not the manifest.
	if id, _ := loaded.ConfigName(); id != mustConfigName(t, img) {
		t.Errorf("the tarball holds image %s, built %s", id, mustConfigName(t, img))
	}
	cfg, err := loaded.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Config.Entrypoint, " ") != "/ferry" || cfg.Config.User != "" || cfg.OS != "linux" || cfg.Architecture != "amd64" ||
		cfg.Config.Labels["org.opencontainers.image.version"] != "v1.2.3" || strings.Join(cfg.Config.Env, " ") != "PATH=/" {
		t.Errorf("config %+v", cfg.Config)
	}
	layers, err := loaded.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	found := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "ferry" {
			found = true
			body, _ := io.ReadAll(tr)
			if h.Mode != 0o755 || h.Uid != 0 || h.Gid != 0 || h.Typeflag != tar.TypeReg || !bytes.Equal(body, want) {
				t.Errorf("/ferry: mode %o, owner %d:%d, type %c, %d bytes (want %d)", h.Mode, h.Uid, h.Gid, h.Typeflag, len(body), len(want))
			}
		}
	}
	if !found {
		t.Error("no /ferry in the layer")
	}

	// What skopeo and crane read.
	idx, err := layout.ImageIndexFromPath(ociDir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 1 || m.Manifests[0].Digest != digest || m.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "v1.2.3" {
		t.Errorf("OCI index %+v, %v", m, err)
	}

	// Without a creation time the image is reproducible.
	again, _ := build(options{Binary: bin, Arch: "amd64", Version: "v1.2.3"})
	if d, _ := again.Digest(); d != digest {
		t.Errorf("two builds: %s and %s", digest, d)
	}
}

func TestImageRefusesDynamicBinary(t *testing.T) {
	_, err := build(options{Binary: "/bin/ls", Arch: "amd64"})
	if err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("a dynamic binary: %v", err)
	}
	_, err = build(options{Binary: "main.go"})
	if err == nil || !strings.Contains(err.Error(), "not an ELF binary") {
		t.Errorf("a text file: %v", err)
	}
}

func mustConfigName(t *testing.T, img interface{ ConfigName() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h
}
