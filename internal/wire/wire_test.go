package wire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
)

func TestFramesOverPipe(t *testing.T) {
	a, b := net.Pipe()
	payloads := [][]byte{nil, []byte("x"), bytes.Repeat([]byte("y"), 100_000), make([]byte, MaxPayload)}
	go func() {
		w := NewWriter(a, 0)
		for i, p := range payloads {
			if err := w.WriteFrame(Type(i+1), p); err != nil {
				t.Error(err)
			}
		}
		w.Flush()
		a.Close()
	}()
	r := NewReader(b, 0)
	for i, p := range payloads {
		typ, got, err := r.ReadFrame()
		if err != nil || typ != Type(i+1) || !bytes.Equal(got, p) {
			t.Fatalf("frame %d: type %d, %d bytes, %v", i, typ, len(got), err)
		}
	}
	if _, _, err := r.ReadFrame(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
}

func TestReaderRejects(t *testing.T) {
	tests := map[string]struct {
		in   []byte
		want error
	}{
		"too large":  {[]byte{1, 0xff, 0xff, 0xff, 0xff}, ErrTooLarge},
		"cut header": {[]byte{1, 0}, io.ErrUnexpectedEOF},
		"cut body":   {[]byte{1, 0, 0, 0, 9, 'a'}, io.ErrUnexpectedEOF},
	}
	for name, tt := range tests {
		_, _, err := NewReader(bytes.NewReader(tt.in), 0).ReadFrame()
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", name, err, tt.want)
		}
	}
	w := NewWriter(io.Discard, 0)
	if err := w.WriteFrame(1, make([]byte, MaxPayload+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("writing an oversized frame: %v", err)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	var e Enc
	e.Uvarint(1 << 40)
	e.Varint(-5)
	e.U8(7)
	e.Bool(true)
	e.Bytes([]byte("abc"))
	e.String("name\n\xff")
	e.Fixed([]byte{1, 2})
	d := NewDec(e.B)
	if d.Uvarint() != 1<<40 || d.Varint() != -5 || d.U8() != 7 || !d.Bool() || string(d.Bytes(10)) != "abc" ||
		d.String(10) != "name\n\xff" || !bytes.Equal(d.Fixed(2), []byte{1, 2}) {
		t.Fatal("round trip changed a value")
	}
	if err := d.Done(); err != nil {
		t.Fatal(err)
	}
}

func TestDecLimits(t *testing.T) {
	var e Enc
	e.Bytes(make([]byte, 100))
	d := NewDec(e.B)
	if d.Bytes(99); !errors.Is(d.Err(), ErrMalformed) {
		t.Fatalf("a byte string over its limit was accepted: %v", d.Err())
	}
	d = NewDec([]byte{0xff}) // a varint cut short
	if d.Uvarint(); d.Err() == nil {
		t.Fatal("a cut varint was accepted")
	}
	d = NewDec([]byte{1, 2})
	d.U8()
	if d.Done() == nil {
		t.Fatal("trailing bytes were accepted")
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 1, 'x', 2, 0, 0, 0, 0})
	f.Add([]byte{9, 0xff, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), 0)
		total := 0
		for {
			_, p, err := r.ReadFrame()
			if err != nil {
				break
			}
			total += HeaderSize + len(p)
			if total > len(in) {
				t.Fatalf("read %d frame bytes from %d input bytes", total, len(in))
			}
		}
	})
}

func FuzzDec(f *testing.F) {
	f.Add([]byte{3, 'a', 'b', 'c', 1, 0x80})
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDec(in)
		for d.Err() == nil && d.Len() > 0 {
			d.Uvarint()
			d.Bytes(64)
			d.Bool()
			d.Varint()
			d.Fixed(3)
		}
	})
}
