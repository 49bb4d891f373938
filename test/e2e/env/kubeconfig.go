package env

import (
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Kubeconfig writes a kubeconfig with both clusters, as a user of `ferry migrate` has
// one: contexts "source" and "target", current context "source".
func (e *Env) Kubeconfig(t testing.TB) string {
	t.Helper()
	merged := clientcmdapi.NewConfig()
	for _, s := range []*Side{e.Source, e.Target} {
		cfg, err := clientcmd.LoadFromFile(s.Kubeconfig)
		if err != nil {
			t.Fatalf("read kubeconfig of %s: %v", s.Name, err)
		}
		for k, v := range cfg.Clusters {
			merged.Clusters[k] = v
		}
		for k, v := range cfg.AuthInfos {
			merged.AuthInfos[k] = v
		}
		for k, v := range cfg.Contexts {
			merged.Contexts[k] = v
		}
	}
	merged.CurrentContext = e.Source.Context
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*merged, path); err != nil {
		t.Fatalf("write kubeconfig: %v", err)
	}
	return path
}
