package treegen

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Mutation says what Mutate changed; paths are relative to the tree's root.
type Mutation struct {
	Modified []string // content and mtime changed
	Added    []string
	Removed  []string
	// Replaced is a file that became a directory (holding one file, Replaced + "/was-a-file.dat").
	Replaced string
}

// String describes the mutation in one line.
func (m Mutation) String() string {
	return fmt.Sprintf("modified %d, added %d, removed %d files; %q is now a directory",
		len(m.Modified), len(m.Added), len(m.Removed), m.Replaced)
}

// Mutate changes a generated tree deterministically for incremental tests: it modifies n
// files (content and mtime; half keep their size, large files get one 4 KiB block changed),
// adds n, removes n, and changes one file into a directory. It picks among the regular files
// with a single link outside fidelity/, and needs 2n+1 of them.
func Mutate(dir string, n int, seed int64) error {
	_, err := MutateReport(dir, n, seed)
	return err
}

// MutateReport is Mutate, returning what it changed.
func MutateReport(dir string, n int, seed int64) (Mutation, error) {
	files, err := candidates(dir)
	if err != nil {
		return Mutation{}, err
	}
	if len(files) < 2*n+1 {
		return Mutation{}, fmt.Errorf("mutate %s: %d files to pick from, need %d", dir, len(files), 2*n+1)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), streamMutate))
	rng.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
	m := Mutation{Modified: files[:n], Removed: files[n : 2*n], Replaced: files[2*n]}
	mu := &mutator{dir: dir, seed: seed, rng: rng, touched: map[string]bool{}}
	for i, f := range m.Modified {
		mu.modify(f, i%2 == 1)
	}
	for i := range n {
		m.Added = append(m.Added, mu.add(files[rng.IntN(len(files))], i))
	}
	for _, f := range m.Removed {
		mu.remove(f)
	}
	mu.replace(m.Replaced)
	mu.stampDirs()
	slices.Sort(m.Modified)
	slices.Sort(m.Removed)
	return m, mu.err
}

// candidates lists, in a fixed order, the regular files with one link outside fidelity/.
func candidates(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r := rel(dir, p)
		if d.IsDir() && r == "fidelity" {
			return fs.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink == 1 {
			files = append(files, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list files of %s: %w", dir, err)
	}
	return files, nil
}

// mutator applies changes, keeping the first error and the directories it touched.
type mutator struct {
	dir     string
	seed    int64
	rng     *rand.Rand
	touched map[string]bool // directories whose mtime must be set again
	err     error
}

func (mu *mutator) p(rel string) string { return filepath.Join(mu.dir, rel) }

func (mu *mutator) do(what, rel string, err error) {
	if mu.err == nil && err != nil {
		mu.err = fmt.Errorf("mutate: %s %s: %w", what, mu.p(rel), err)
	}
}

// modify gives rel new content: one 4 KiB block for a file of 1 MiB or more, else all of it,
// one byte longer if grow.
func (mu *mutator) modify(rel string, grow bool) {
	if mu.err != nil {
		return
	}
	f, err := os.OpenFile(mu.p(rel), os.O_WRONLY, 0)
	mu.do("open", rel, err)
	if err != nil {
		return
	}
	fi, err := f.Stat()
	mu.do("stat", rel, err)
	if err == nil {
		mu.do("write", rel, mu.rewrite(f, fi.Size(), grow))
	}
	mu.do("close", rel, f.Close())
	mu.stamp(rel)
}

func (mu *mutator) rewrite(f *os.File, size int64, grow bool) error {
	const block = 4096
	if size >= 1<<20 {
		buf := make([]byte, block)
		fillRand(buf, mu.seed, streamMutate, mu.rng.Uint64(), 0)
		_, err := f.WriteAt(buf, mu.rng.Int64N(size/block)*block)
		return err
	}
	if grow {
		size++
	}
	buf := make([]byte, size)
	fillRand(buf, mu.seed, streamMutate, mu.rng.Uint64(), 0)
	_, err := f.WriteAt(buf, 0)
	return err
}

// add creates a new 4 KiB file next to the existing file near and returns its path.
func (mu *mutator) add(near string, i int) string {
	d := filepath.Dir(near)
	r := filepath.ToSlash(filepath.Join(d, fmt.Sprintf("added-%d-%d.dat", mu.seed, i)))
	if mu.err == nil {
		buf := make([]byte, 4096)
		fillRand(buf, mu.seed, streamMutate, hash64(r), 1)
		mu.do("create", r, os.WriteFile(mu.p(r), buf, 0o644))
		mu.do("chmod", r, os.Chmod(mu.p(r), 0o644))
		mu.stamp(r)
		mu.touched[d] = true
	}
	return r
}

func (mu *mutator) remove(rel string) {
	if mu.err == nil {
		mu.do("remove", rel, os.Remove(mu.p(rel)))
		mu.touched[filepath.Dir(rel)] = true
	}
}

// replace turns the file rel into a directory holding one file.
func (mu *mutator) replace(rel string) {
	mu.remove(rel)
	if mu.err != nil {
		return
	}
	mu.do("create directory", rel, mkdir(mu.p(rel), 0o755))
	inner := rel + "/was-a-file.dat"
	buf := make([]byte, 1000)
	fillRand(buf, mu.seed, streamMutate, hash64(inner), 2)
	mu.do("create", inner, os.WriteFile(mu.p(inner), buf, 0o644))
	mu.do("chmod", inner, os.Chmod(mu.p(inner), 0o644))
	mu.stamp(inner)
	mu.touched[rel] = true
}

// stamp sets the mtime of rel to its mutateTime.
func (mu *mutator) stamp(rel string) {
	if mu.err == nil {
		mu.do("set time of", rel, setTime(mu.p(rel), mutateTime(mu.seed, rel)))
	}
}

// stampDirs sets the mtime of every directory whose entries changed, deepest first.
func (mu *mutator) stampDirs() {
	dirs := make([]string, 0, len(mu.touched))
	for d := range mu.touched {
		dirs = append(dirs, d)
	}
	slices.SortFunc(dirs, func(a, b string) int { return strings.Compare(b, a) })
	for _, d := range dirs {
		if d == "." {
			d = ""
		}
		mu.stamp(d)
	}
}
