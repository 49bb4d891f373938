package delta

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"
)

// header returns a signature header with these fields.
func header(magic string, blockSize uint32, size uint64) []byte {
	b := []byte(magic)
	b = binary.LittleEndian.AppendUint32(b, blockSize)
	return binary.LittleEndian.AppendUint64(b, size)
}

func TestSignatureEncoding(t *testing.T) {
	old := random(1, 10<<10+1)
	sig, err := Sign(context.Background(), bytes.NewReader(old), int64(len(old)), 4<<10)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := sig.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if want := 16 + 3*20; len(enc) != want {
		t.Errorf("encoding is %d bytes, want %d", len(enc), want)
	}
	var got Signature
	if err := got.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	if got.BlockSize != sig.BlockSize || got.Size != sig.Size || !equalBlocks(got.Blocks, sig.Blocks) {
		t.Errorf("decoded %+v, want %+v", got, *sig)
	}
}

func equalBlocks(a, b []Block) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDecodeSignatureRejects(t *testing.T) {
	block := make([]byte, 20)
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"short header", header("FDS1", 16, 0)[:15]},
		{"bad magic", header("FDS2", 16, 0)},
		{"block size 0", header("FDS1", 0, 0)},
		{"block size too small", header("FDS1", MinBlockSize-1, 0)},
		{"block size too large", header("FDS1", MaxBlockSize+1, 0)},
		{"negative size", header("FDS1", 16, 1<<63)},
		{"too many blocks", header("FDS1", 16, 1<<40)},
		{"missing block", header("FDS1", 16, 17)},
		{"truncated block", join(header("FDS1", 16, 1), block[:19])},
		{"extra block", join(header("FDS1", 16, 16), block, block)},
		{"trailing byte", join(header("FDS1", 16, 0), []byte{0})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Signature
			if err := s.UnmarshalBinary(tt.data); !errors.Is(err, ErrInvalidSignature) {
				t.Errorf("got %v, want ErrInvalidSignature", err)
			}
		})
	}
}

func TestEncodeRejectsInconsistent(t *testing.T) {
	s := &Signature{BlockSize: 16, Size: 17, Blocks: make([]Block, 1)}
	if _, err := s.MarshalBinary(); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("got %v, want ErrInvalidSignature", err)
	}
}

// FuzzDecodeSignature feeds the decoder what a hostile peer might send. Whatever it accepts
// must encode back to the same bytes; it must never panic, and since the block count must
// match the input's length, it cannot allocate more than about the input's size.
func FuzzDecodeSignature(f *testing.F) {
	f.Add(header("FDS1", 16, 0))
	f.Add(join(header("FDS1", 16, 33), make([]byte, 60)))
	f.Add(join(header("FDS1", 4096, 4097), make([]byte, 40)))
	f.Add(header("FDS1", MaxBlockSize, 1<<62))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Signature
		if err := s.UnmarshalBinary(data); err != nil {
			return
		}
		if len(s.Blocks)*sigBlockBytes+sigHeaderLen != len(data) {
			t.Fatalf("%d blocks from %d bytes", len(s.Blocks), len(data))
		}
		enc, err := s.MarshalBinary()
		if err != nil {
			t.Fatalf("accepted signature does not encode: %v", err)
		}
		if !bytes.Equal(enc, data) {
			t.Fatalf("re-encoded differently:\n%x\n%x", enc, data)
		}
	})
}
