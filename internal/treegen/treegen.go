package treegen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Spec says what to generate. The zero value generates an empty tree.
type Spec struct {
	// SmallFiles is the number of small files, spread over directories of FilesPerDir.
	SmallFiles int
	// SmallSize is the size of each small file in bytes; 0 means 4096.
	SmallSize int
	// LargeFiles is the number of large files of LargeSize bytes of random content.
	LargeFiles int
	LargeSize  int64
	// Seed keys the content: the same Spec gives the same tree.
	Seed int64
	// Fidelity adds one of every kind of object and attribute under "fidelity/". It needs
	// root (devices, owners, trusted.* xattrs).
	Fidelity bool
}

// FilesPerDir is the number of small files in each directory under "small/".
const FilesPerDir = 100

// Stats counts what Generate made.
type Stats struct {
	Files    int64 // regular-file paths; each path of a hard-link group counts
	Dirs     int64 // directories, the root included
	Symlinks int64
	Special  int64 // FIFOs and devices
	Bytes    int64 // sum of the sizes of the regular-file paths
}

func (s *Stats) add(o Stats) {
	s.Files += o.Files
	s.Dirs += o.Dirs
	s.Symlinks += o.Symlinks
	s.Special += o.Special
	s.Bytes += o.Bytes
}

// ErrNotEmpty is returned when Generate is pointed at a directory that has entries.
var ErrNotEmpty = errors.New("directory is not empty")

// ErrNeedRoot is returned when Spec.Fidelity is set and the process is not root.
var ErrNeedRoot = errors.New("fidelity objects need root")

// withDefaults returns s with the zero values replaced by their defaults.
func (s Spec) withDefaults() Spec {
	if s.SmallSize == 0 {
		s.SmallSize = 4096
	}
	return s
}

// Generate makes the tree s describes in dir, which must be empty or not exist. The layout is
// small/sNNNN/fNNNNNN.dat, large/LNNN.bin and fidelity/.
func Generate(ctx context.Context, dir string, s Spec) (Stats, error) {
	s = s.withDefaults()
	if s.Fidelity && os.Geteuid() != 0 {
		return Stats{}, fmt.Errorf("generate %s: %w", dir, ErrNeedRoot)
	}
	if err := prepareDir(dir); err != nil {
		return Stats{}, err
	}
	st := Stats{Dirs: 1}
	steps := []func(context.Context, string, Spec) (Stats, error){genSmall, genLarge, genFidelity}
	for _, step := range steps {
		got, err := step(ctx, dir, s)
		if err != nil {
			return st, err
		}
		st.add(got)
	}
	if err := setTime(dir, pathTime("")); err != nil {
		return st, err
	}
	return st, nil
}

// prepareDir creates dir if needed and checks that it is empty.
func prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); err != io.EOF {
		if err == nil {
			err = ErrNotEmpty
		}
		return fmt.Errorf("check %s: %w", dir, err)
	}
	if err := unix.Chmod(dir, 0o755); err != nil { // whatever the umask
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	return nil
}

// mkdir creates a directory with exactly mode (umask aside).
func mkdir(path string, mode uint32) error {
	if err := unix.Mkdir(path, 0o700); err != nil {
		return fmt.Errorf("create directory %s: %w", path, err)
	}
	if err := unix.Chmod(path, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	return nil
}

// setTime sets the mtime and atime of path itself (a symlink is not followed).
func setTime(path string, ns int64) error {
	ts := unix.NsecToTimespec(ns)
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set time of %s: %w", path, err)
	}
	return nil
}

// rel returns path relative to dir, '/'-separated.
func rel(dir, path string) string {
	r, err := filepath.Rel(dir, path)
	if err != nil || r == "." {
		return ""
	}
	return filepath.ToSlash(r)
}
