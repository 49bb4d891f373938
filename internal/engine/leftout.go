package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/ferrydvm/ferry/internal/scan"
)

// leftOut counts, per extended attribute name, the objects that had it and whose copy does
// not: what the options or the kind of attribute kept from the target. The summary names
// them, so a copy never drops something without saying so.
type leftOut struct {
	mu     sync.Mutex
	counts map[string]int64
	first  map[string]string // the path of the first object seen with the name
}

func (l *leftOut) add(e *scan.Entry) {
	if len(e.LeftOut) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		l.counts, l.first = map[string]int64{}, map[string]string{}
	}
	for _, name := range e.LeftOut {
		if l.counts[name] == 0 {
			l.first[name] = e.Path
		}
		l.counts[name]++
	}
}

// notices says what was left out and why, one line per attribute name.
func (l *leftOut) notices(o Options) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, name := range slices.Sorted(maps.Keys(l.counts)) {
		out = append(out, fmt.Sprintf("%s of %d objects (the first: %s) was not copied: %s",
			name, l.counts[name], quote(l.first[name]), whyLeftOut(name, o)))
	}
	return out
}

func whyLeftOut(name string, o Options) string {
	switch {
	case o.NoXattrs:
		return "--no-xattrs"
	case strings.HasPrefix(name, "security."):
		return "security labels are left to the target (the kubelet relabels volumes); --security-xattrs copies them"
	default:
		return "a system attribute the file system computes (an NFSv4 ACL, for one), which no other file system can take"
	}
}
