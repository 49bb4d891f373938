// Package wire reads and writes the frames of ferry's transfer protocol and encodes the
// values inside them. It knows nothing of files or TLS: a frame is a type byte, a 32-bit
// big-endian length and a payload, read from an io.Reader and written to an io.Writer.
// Payloads are built with Enc and read with Dec, whose errors are sticky so a decoder
// checks once at the end; every length read from the peer is bounded.
package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxPayload bounds a frame's payload; a peer announcing more is broken or hostile.
const MaxPayload = 8 << 20

// HeaderSize is the size of a frame header: type byte and length.
const HeaderSize = 5

// Type identifies a frame's message; the protocol built on this package assigns them.
type Type uint8

// ErrTooLarge is returned for a frame longer than MaxPayload.
var ErrTooLarge = errors.New("frame larger than the protocol allows")

// Writer writes frames through a buffer; call Flush when the peer must see them. It is not
// safe for concurrent use.
type Writer struct {
	under io.Writer
	bw    *bufio.Writer
	hdr   [HeaderSize]byte
	n     int64
}

// NewWriter returns a Writer with a buffer of size bytes (at least 64 KiB).
func NewWriter(w io.Writer, size int) *Writer {
	return &Writer{under: w, bw: bufio.NewWriterSize(w, max(size, 64<<10))}
}

// WriteFrame writes one frame.
func (w *Writer) WriteFrame(t Type, payload []byte) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("write frame %d of %d bytes: %w", t, len(payload), ErrTooLarge)
	}
	w.hdr[0] = byte(t)
	binary.BigEndian.PutUint32(w.hdr[1:], uint32(len(payload)))
	if _, err := w.bw.Write(w.hdr[:]); err != nil {
		return err
	}
	_, err := w.bw.Write(payload)
	w.n += int64(HeaderSize + len(payload))
	return err
}

// Flush sends buffered frames, and flushes the underlying writer too when it buffers
// (a compressor, for one).
func (w *Writer) Flush() error {
	if err := w.bw.Flush(); err != nil {
		return err
	}
	if f, ok := w.under.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// Buffered reports how many bytes wait in the buffer.
func (w *Writer) Buffered() int { return w.bw.Buffered() }

// Written counts the frame bytes written so far.
func (w *Writer) Written() int64 { return w.n }

// Reader reads frames. The payload returned by ReadFrame is valid until the next call,
// except for frames of the types Own selects: those get a buffer of their own, which the
// caller keeps (bulk data that would otherwise be copied out).
type Reader struct {
	Own func(Type) bool
	br  *bufio.Reader
	buf []byte
	n   int64
}

// NewReader returns a Reader with a buffer of size bytes (at least 64 KiB).
func NewReader(r io.Reader, size int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, max(size, 64<<10))}
}

// ReadFrame reads the next frame. At a clean end of stream between frames it returns io.EOF;
// a stream cut inside a frame is io.ErrUnexpectedEOF.
func (r *Reader) ReadFrame() (Type, []byte, error) {
	var hdr [HeaderSize]byte
	if _, err := io.ReadFull(r.br, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxPayload {
		return 0, nil, fmt.Errorf("read frame %d announcing %d bytes: %w", hdr[0], n, ErrTooLarge)
	}
	var buf []byte
	if r.Own != nil && r.Own(Type(hdr[0])) {
		buf = make([]byte, n)
	} else {
		if cap(r.buf) < int(n) {
			r.buf = make([]byte, n, max(int(n), 64<<10))
		}
		buf = r.buf[:n]
	}
	if _, err := io.ReadFull(r.br, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	r.n += int64(HeaderSize) + int64(n)
	return Type(hdr[0]), buf, nil
}

// Rest is the stream after the frames read so far, buffered bytes first: for switching the
// rest of a connection to another encoding.
func (r *Reader) Rest() io.Reader { return r.br }

// Read counts the frame bytes read so far.
func (r *Reader) Read() int64 { return r.n }
