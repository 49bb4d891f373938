package treegen

import (
	"context"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// genSmall writes s.SmallFiles files of s.SmallSize bytes under small/, FilesPerDir a directory.
func genSmall(ctx context.Context, dir string, s Spec) (Stats, error) {
	if s.SmallFiles <= 0 {
		return Stats{}, nil
	}
	top := filepath.Join(dir, "small")
	if err := mkdir(top, 0o755); err != nil {
		return Stats{}, err
	}
	ndirs := (s.SmallFiles + FilesPerDir - 1) / FilesPerDir
	err := parallel(ctx, ndirs, s.SmallSize, func(d int, buf []byte) error {
		return writeSmallDir(dir, d, s, buf)
	})
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Files: int64(s.SmallFiles), Dirs: int64(ndirs) + 1, Bytes: int64(s.SmallFiles) * int64(s.SmallSize)}
	return st, setTime(top, pathTime("small"))
}

// smallDir is the path, relative to the root, of the d-th directory of small files.
func smallDir(d int) string { return fmt.Sprintf("small/s%04d", d) }

// writeSmallDir creates the d-th directory of small files and fills it.
func writeSmallDir(dir string, d int, s Spec, buf []byte) error {
	drel := smallDir(d)
	path := filepath.Join(dir, drel)
	if err := mkdir(path, 0o755); err != nil {
		return err
	}
	dfd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(dfd)
	for i := d * FilesPerDir; i < min((d+1)*FilesPerDir, s.SmallFiles); i++ {
		name := fmt.Sprintf("f%06d.dat", i)
		fillRand(buf, s.Seed, streamSmall, uint64(i), 0)
		if err := writeFileAt(dfd, name, buf, 0o644, pathTime(drel+"/"+name)); err != nil {
			return fmt.Errorf("write %s/%s: %w", path, name, err)
		}
	}
	return setTime(path, pathTime(drel))
}

// writeFileAt creates name in the directory dfd with data, exactly mode, and mtime.
func writeFileAt(dfd int, name string, data []byte, mode uint32, mtime int64) error {
	fd, err := unix.Openat(dfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	err = writeAll(fd, data)
	if err == nil {
		err = unix.Fchmod(fd, mode)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	ts := unix.NsecToTimespec(mtime)
	return unix.UtimesNanoAt(dfd, name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
