package delta

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

// FuzzRoundTrip checks that for any old and new file, any small block size and readers that
// return data in odd pieces, patching old with the delta rebuilds new exactly.
func FuzzRoundTrip(f *testing.F) {
	text := []byte("the quick brown fox jumps over the lazy dog, again and again and again")
	f.Add(text, text, uint8(0), uint8(0))
	f.Add(text, text[5:], uint8(3), uint8(1))
	f.Add(text, join(text[:20], []byte("INSERTED"), text[20:]), uint8(1), uint8(2))
	f.Add(text, join(text[40:], text[:40]), uint8(7), uint8(3))
	f.Add([]byte{}, text, uint8(0), uint8(0))
	f.Add(text, []byte{}, uint8(0), uint8(0))
	f.Add(make([]byte, 100), make([]byte, 99), uint8(0), uint8(1))
	f.Fuzz(func(t *testing.T, old, newer []byte, bsSeed, readSeed uint8) {
		bs := MinBlockSize + int(bsSeed%32)
		roundTrip(t, old, newer, bs, reader(newer, readSeed))
	})
}

// reader returns a reader of b chosen by seed: whole, a byte at a time, in halves, or
// returning EOF along with the last data.
func reader(b []byte, seed uint8) io.Reader {
	r := bytes.NewReader(b)
	switch seed % 4 {
	case 1:
		return iotest.OneByteReader(r)
	case 2:
		return iotest.HalfReader(r)
	case 3:
		return iotest.DataErrReader(r)
	}
	return r
}
