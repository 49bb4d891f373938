package scan

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Extent is a region of a file, in bytes.
type Extent struct{ Off, Len int64 }

// DataExtents returns the data regions of an open regular file within its first size bytes,
// in order, found with SEEK_DATA and SEEK_HOLE; what lies between them reads as zeros. A file
// system without support yields one extent covering the whole size. The file offset is
// restored before it returns.
func DataExtents(f *os.File, size int64) ([]Extent, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("data extents of %s: %w", f.Name(), err)
	}
	var exts []Extent
	var opErr error
	err = rc.Control(func(fd uintptr) {
		exts, opErr = dataExtents(int(fd), size)
	})
	if err == nil {
		err = opErr
	}
	if err != nil {
		return nil, fmt.Errorf("data extents of %s: %w", f.Name(), err)
	}
	return exts, nil
}

func dataExtents(fd int, size int64) (exts []Extent, err error) {
	cur, err := unix.Seek(fd, 0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	defer func() {
		if _, serr := unix.Seek(fd, cur, io.SeekStart); serr != nil && err == nil {
			err = serr
		}
	}()
	for off := int64(0); off < size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		switch {
		case errors.Is(err, unix.ENXIO): // no data after off
			return exts, nil
		case off == 0 && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTSUP)):
			return []Extent{{0, size}}, nil // no SEEK_DATA here: all data
		case err != nil:
			return nil, fmt.Errorf("seek data from %d: %w", off, err)
		}
		if data >= size {
			break
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return nil, fmt.Errorf("seek hole from %d: %w", data, err)
		}
		hole = min(hole, size)
		exts = append(exts, Extent{Off: data, Len: hole - data})
		off = hole
	}
	return exts, nil
}
