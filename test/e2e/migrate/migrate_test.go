package migrate_test

import (
	"testing"

	"github.com/ferrydvm/ferry/internal/treegen"
	"github.com/ferrydvm/ferry/test/e2e/env"
)

// volumes of each namespace, what they hold, and how many files change before the cutover.
var contents = map[string]struct {
	spec    treegen.Spec
	changes int
}{
	"fidelity": {treegen.Spec{Fidelity: true, SmallFiles: 50, Seed: 1}, 5},
	"small":    {treegen.Spec{SmallFiles: 20000, SmallSize: 512, Seed: 2}, 20},
	"large":    {treegen.Spec{LargeFiles: 3, LargeSize: 24 << 20, Seed: 3}, 1},
}

// TestStageThenCutover migrates two namespaces of three claims each from the source
// through squid (Basic auth) to the target through a Route: a stage copy, changes, then
// the cutover; the trees are identical attribute by attribute after each, and nothing
// ferry made is left.
func TestStageThenCutover(t *testing.T) {
	e := env.Start(t)
	kc := e.Kubeconfig(t)
	namespaces := []string{"shop", "blog"}
	src := map[string]string{}
	for _, ns := range namespaces {
		for vol, c := range contents {
			dir := e.Source.Claim(t, ns, vol)
			if _, err := treegen.Generate(t.Context(), dir, c.spec); err != nil {
				t.Fatalf("generate %s/%s: %v", ns, vol, err)
			}
			src[ns+"/"+vol] = dir
		}
	}
	args := []string{"-n", "shop", "-n", "blog", "--all-pvcs", "--proxy", e.ProxyURL,
		"--create-namespaces", "--create-target-pvcs"}

	sum, progress, err := migrate(t, e, kc, append(args, "--stage")...)
	if err != nil || !sum.Verified {
		t.Fatalf("stage: %v, summary %+v", err, sum)
	}
	if progress == 0 {
		t.Error("stage: no progress event")
	}
	check(t, e, src)
	nothingLeft(t, e, namespaces...)
	var stageBytes, stageFiles int64
	for _, v := range sum.Volumes {
		stageBytes += v.SentBytes
		stageFiles += v.Files
	}

	for key, dir := range src {
		_, vol, _ := cut(key)
		if _, err := treegen.MutateReport(dir, contents[vol].changes, 7); err != nil {
			t.Fatalf("change %s: %v", key, err)
		}
	}
	sum, _, err = migrate(t, e, kc, append(args, "--cutover")...)
	if err != nil || !sum.Verified {
		t.Fatalf("cutover: %v, summary %+v", err, sum)
	}
	check(t, e, src)
	nothingLeft(t, e, namespaces...)
	var cutoverBytes, cutoverFiles int64
	for _, v := range sum.Volumes {
		cutoverBytes += v.SentBytes
		cutoverFiles += v.Files
	}
	t.Logf("stage: %d files, %d bytes sent; cutover: %d files, %d bytes sent", stageFiles, stageBytes, cutoverFiles, cutoverBytes)
	// Each namespace changed about 2*(5+20+1) files, and one block of a large file.
	if cutoverFiles > 200 || cutoverBytes*20 > stageBytes {
		t.Errorf("the cutover sent %d files and %d bytes after a stage of %d files and %d bytes: it should send only the changes",
			cutoverFiles, cutoverBytes, stageFiles, stageBytes)
	}
}

// check compares every source claim with its target.
func check(t *testing.T, e *env.Env, src map[string]string) {
	t.Helper()
	for key, dir := range src {
		ns, vol, _ := cut(key)
		same(t, key, dir, e.Target.VolumePath(t, ns, vol))
	}
}

func cut(key string) (string, string, bool) {
	for i := range key {
		if key[i] == '/' {
			return key[:i], key[i+1:], true
		}
	}
	return key, "", false
}
