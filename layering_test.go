package ferry_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDataPathHasNoKubernetes keeps the data mover usable without any cluster: the
// data-path packages import nothing from Kubernetes, directly or indirectly.
func TestDataPathHasNoKubernetes(t *testing.T) {
	pkgs := []string{"proxy", "pki", "tunnel", "wire", "scan", "delta", "engine"}
	args := []string{"list", "-deps", "-f", "{{.ImportPath}}"}
	for _, p := range pkgs {
		args = append(args, "./internal/"+p)
	}
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < len(pkgs) {
		t.Fatalf("go list returned %d packages", len(deps))
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "k8s.io/") || strings.HasPrefix(d, "sigs.k8s.io/") {
			t.Errorf("a data-path package depends on %s", d)
		}
	}
}
