package scan

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// The names under which Linux exposes POSIX ACLs as extended attributes.
const (
	ACLAccess  = "system.posix_acl_access"
	ACLDefault = "system.posix_acl_default"
)

// keepXattr reports whether an attribute is part of what scan captures: user.* and trusted.*,
// the two POSIX ACLs, and security.* when asked. Other system.* names (NFSv4 ACLs, for one) are
// views a file system computes and cannot be written elsewhere.
func keepXattr(name string, security bool) bool {
	switch {
	case strings.HasPrefix(name, "user."), strings.HasPrefix(name, "trusted."):
		return true
	case name == ACLAccess, name == ACLDefault:
		return true
	case strings.HasPrefix(name, "security."):
		return security
	}
	return false
}

// xattrReader reads extended attributes by path, reusing its buffers between calls.
// It is not safe for concurrent use.
type xattrReader struct {
	list    []byte
	val     []byte
	leftOut []string // names the last read left out
}

// read returns the attributes of obj that keepXattr accepts, sorted by name. A file system
// without extended attributes yields none. Names it leaves out are in x.leftOut until the
// next call.
func (x *xattrReader) read(obj xattrObj, security bool) ([]Xattr, error) {
	x.leftOut = x.leftOut[:0]
	names, err := x.names(obj)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	var out []Xattr
	for _, name := range names {
		if !keepXattr(name, security) {
			x.leftOut = append(x.leftOut, name)
			continue
		}
		v, err := x.value(obj, name)
		if errors.Is(err, unix.ENODATA) {
			continue // removed since it was listed
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Xattr{Name: name, Value: v})
	}
	slices.SortFunc(out, func(a, b Xattr) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// names lists the attribute names of obj.
func (x *xattrReader) names(obj xattrObj) ([]string, error) {
	if x.list == nil {
		x.list = make([]byte, 1024)
	}
	for {
		n, err := obj.list(x.list)
		if errors.Is(err, unix.ERANGE) {
			if err := x.growList(obj); err != nil {
				return nil, err
			}
			continue
		}
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list xattrs: %w", err)
		}
		return splitNames(x.list[:n]), nil
	}
}

func (x *xattrReader) growList(obj xattrObj) error {
	n, err := obj.list(nil)
	if err != nil {
		return fmt.Errorf("list xattrs: %w", err)
	}
	x.list = make([]byte, n+1024)
	return nil
}

// value reads one attribute and returns a copy of it.
func (x *xattrReader) value(obj xattrObj, name string) ([]byte, error) {
	if x.val == nil {
		x.val = make([]byte, 4096)
	}
	for {
		n, err := obj.get(name, x.val)
		if errors.Is(err, unix.ERANGE) {
			size, err := obj.get(name, nil)
			if err != nil {
				return nil, fmt.Errorf("read xattr %q: %w", name, err)
			}
			x.val = make([]byte, size+4096)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read xattr %q: %w", name, err)
		}
		return bytes.Clone(x.val[:n:n]), nil
	}
}

// splitNames splits a NUL-separated listxattr result.
func splitNames(b []byte) []string {
	var names []string
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			i = len(b)
		}
		if i > 0 {
			names = append(names, string(b[:i]))
		}
		b = b[min(i+1, len(b)):]
	}
	return names
}
