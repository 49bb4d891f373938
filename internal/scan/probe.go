package scan

import (
	"runtime"
	"sync"
)

// The walk is bound by system calls (fstatat, listxattrat), about two per object. Probing the
// objects of a directory from several goroutines at once, a window at a time, divides the
// wall time on a machine with several cores; fn is still called in order, on the goroutine
// that called Walk.
const (
	probeWindow = 1024 // names probed ahead at most, per directory
	probeChunk  = 32   // fewer names than this per goroutine are not worth one
	maxProbers  = 8
)

// probers is the number of goroutines that probe a window.
func probers() int { return max(1, min(runtime.GOMAXPROCS(0), maxProbers)) }

// probe is what lstat and the link and xattr reads found for one name.
type probe struct {
	rel     string
	e       *Entry
	statErr error // lstat failed: not even the kind is known
	fillErr error // reading the link target or the xattrs failed
}

// probeAll probes the names of one window of d, whose path is rel.
func (w *walker) probeAll(d dirRef, rel string, names []string) []probe {
	out := make([]probe, len(names))
	n := min(len(w.xrs), len(names)/probeChunk)
	if n <= 1 {
		w.probeRange(d, rel, names, out, &w.xrs[0])
		return out
	}
	chunk := (len(names) + n - 1) / n
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		lo, hi := i*chunk, min((i+1)*chunk, len(names))
		xr := &w.xrs[i]
		wg.Go(func() { w.probeRange(d, rel, names[lo:hi], out[lo:hi], xr) })
	}
	wg.Wait()
	return out
}

func (w *walker) probeRange(d dirRef, rel string, names []string, out []probe, xr *xattrReader) {
	for i, name := range names {
		out[i] = probeAt(d, name, joinPath(rel, name), w.root, w.opts, xr)
	}
}

// probeAt lstats name in d and reads its link target and xattrs.
func probeAt(d dirRef, name, rel, root string, opts Options, xr *xattrReader) probe {
	e, linkLen, err := statAt(d, name, rel, root)
	if err != nil {
		return probe{rel: rel, statErr: err}
	}
	return probe{rel: rel, e: e, fillErr: fill(e, d, name, linkLen, root, opts, xr)}
}
