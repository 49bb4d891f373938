package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Enc appends values to a payload.
type Enc struct{ B []byte }

func (e *Enc) Uvarint(v uint64) { e.B = binary.AppendUvarint(e.B, v) }
func (e *Enc) Varint(v int64)   { e.B = binary.AppendVarint(e.B, v) }
func (e *Enc) U8(v uint8)       { e.B = append(e.B, v) }
func (e *Enc) Bool(v bool) {
	if v {
		e.B = append(e.B, 1)
	} else {
		e.B = append(e.B, 0)
	}
}

// Bytes writes a length-prefixed byte string.
func (e *Enc) Bytes(b []byte) { e.Uvarint(uint64(len(b))); e.B = append(e.B, b...) }

// String writes a length-prefixed string.
func (e *Enc) String(s string) { e.Uvarint(uint64(len(s))); e.B = append(e.B, s...) }

// Fixed writes bytes with no length (the reader knows it).
func (e *Enc) Fixed(b []byte) { e.B = append(e.B, b...) }

// ErrMalformed wraps every decoding failure.
var ErrMalformed = errors.New("malformed message")

// Dec reads values from a payload. The first failure sticks: later reads return zero
// values and Err reports it.
type Dec struct {
	b   []byte
	err error
}

// NewDec returns a decoder over b.
func NewDec(b []byte) *Dec { return &Dec{b: b} }

func (d *Dec) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, what)
	}
	d.b = nil
}

// Fail records a validation failure found by the caller (a value out of range).
func (d *Dec) Fail(what string) { d.fail(what) }

// Err is the first decoding error.
func (d *Dec) Err() error { return d.err }

// Len is the number of bytes left.
func (d *Dec) Len() int { return len(d.b) }

// Done fails unless every byte was consumed, and returns Err.
func (d *Dec) Done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Sprintf("%d trailing bytes", len(d.b)))
	}
	return d.err
}

func (d *Dec) Uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad unsigned varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *Dec) Varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Uint reads an unsigned varint that must not exceed limit.
func (d *Dec) Uint(limit uint64, what string) uint64 {
	v := d.Uvarint()
	if v > limit {
		d.fail(fmt.Sprintf("%s %d exceeds %d", what, v, limit))
		return 0
	}
	return v
}

func (d *Dec) U8() uint8 {
	if len(d.b) < 1 {
		d.fail("short")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *Dec) Bool() bool {
	switch d.U8() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bad boolean")
	return false
}

// Bytes reads a length-prefixed byte string of at most limit bytes. The result aliases the
// payload.
func (d *Dec) Bytes(limit int) []byte {
	n := d.Uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(limit) || n > uint64(len(d.b)) {
		d.fail(fmt.Sprintf("byte string of %d bytes (limit %d, %d left)", n, limit, len(d.b)))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// String reads a length-prefixed string of at most limit bytes.
func (d *Dec) String(limit int) string { return string(d.Bytes(limit)) }

// Fixed reads exactly n bytes.
func (d *Dec) Fixed(n int) []byte {
	if len(d.b) < n {
		d.fail("short")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
