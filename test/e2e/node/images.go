package node

import (
	"fmt"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"
)

// imageBinary returns the binary an image stands for: an exact entry of Options.Images,
// else the longest prefix entry ("registry.example/ferry:*").
func (a *Agent) imageBinary(image string) (string, error) {
	if bin, ok := a.o.Images[image]; ok {
		return bin, nil
	}
	best, bin := -1, ""
	for ref, b := range a.o.Images {
		if prefix, ok := strings.CutSuffix(ref, "*"); ok && strings.HasPrefix(image, prefix) && len(prefix) > best {
			best, bin = len(prefix), b
		}
	}
	if best < 0 {
		return "", &configError{reason: "ErrImagePull", err: fmt.Errorf(
			"pull image %q: not an image of node.Options.Images, the only ones the e2e agent of node %s runs", image, a.o.NodeName)}
	}
	return bin, nil
}

// imageName is the last path element of an image reference without tag or digest:
// "ferry" for "registry.example/org/ferry:v1@sha256:...".
func imageName(image string) string {
	image, _, _ = strings.Cut(image, "@")
	name := image[strings.LastIndex(image, "/")+1:]
	name, _, _ = strings.Cut(name, ":")
	return name
}

// commandLine is the argv of a container, as a runtime builds it from the image's
// entrypoint and the container's command and args, with $(VAR) references expanded
// from the container's environment. A command naming the image's entrypoint (by the
// binary's or the image's base name: "ferry", "/ferry", "/usr/local/bin/ferry") runs the
// mapped binary; any other command runs as given, looked up in the container's PATH.
func commandLine(c *corev1.Container, binary string, env map[string]string) []string {
	mapping := expansion.MappingFuncFor(env)
	expand := func(in []string) []string {
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = expansion.Expand(s, mapping)
		}
		return out
	}
	args := expand(c.Args)
	if len(c.Command) == 0 {
		return append([]string{binary}, args...)
	}
	argv := append(expand(c.Command), args...)
	if base := filepath.Base(argv[0]); base == filepath.Base(binary) || base == imageName(c.Image) {
		argv[0] = binary
	}
	return argv
}
