package delta

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

func TestRoundTrip(t *testing.T) {
	const bs = 4 << 10 // BlockSize of base
	base := random(1, 1<<20+777)
	mid := len(base) / 2
	zeros := make([]byte, 1<<20)
	oneByte := bytes.Clone(zeros)
	oneByte[mid] = 1
	tiny := random(3, 100)
	small := base[:64<<10]
	tests := []struct {
		name       string
		old, newer []byte
		blockSize  int // 0: BlockSize(len(old))
		maxLiteral int
		maxOps     int // 0: no limit
	}{
		{"both empty", nil, nil, 0, 0, 0},
		{"empty old", nil, random(2, 300<<10), 0, 300 << 10, 2},
		{"empty new", base, nil, 0, 0, 0},
		{"identical", base, base, 0, 0, 1},
		{"identical, whole blocks", base[:1<<20], base[:1<<20], 0, 0, 1},
		{"append", base, join(base, random(2, 1000)), 0, 1000 + bs, 0},
		{"prepend", base, join(random(2, 1000), base), 0, 1000, 3},
		{"insert", base, join(base[:mid], random(2, 1000), base[mid:]), 0, 1000 + 2*bs, 0},
		{"delete", base, join(base[:mid], base[mid+1000:]), 0, 2 * bs, 0},
		{"rewrite", base, join(base[:mid], random(2, 64<<10), base[mid+64<<10:]), 0, 64<<10 + 2*bs, 0},
		{"truncate", base, base[:mid+1], 0, bs, 0},
		{"swap halves", base, join(base[mid:], base[:mid]), 0, 2*bs + 777, 0},
		{"unrelated", base, random(2, len(base)), 0, len(base), 0},
		{"tiny identical", tiny, tiny, 0, 0, 1},
		{"tiny appended", tiny, join(tiny, []byte("x")), 0, 101, 1},
		{"zeros identical", zeros, zeros, 0, 0, 1},
		{"zeros, one byte set", zeros, oneByte, 0, bs, 4},
		{"zeros to random", zeros, random(2, len(zeros)), 0, len(zeros), 0},
		{"smallest blocks", small, join(small[:1000], []byte("hello"), small[1000:]),
			MinBlockSize, 5 + 2*MinBlockSize, 0},
		{"largest blocks", join(base, base, base), join(base, base[:mid], []byte("x"), base[mid:], base),
			MaxBlockSize, 1 + 2*MaxBlockSize, 0},
	}
	for _, tt := range tests {
		// The delta must not depend on how the reader cuts the new file.
		for _, rd := range []struct {
			name string
			r    io.Reader
		}{
			{"whole", bytes.NewReader(tt.newer)},
			{"bytewise", iotest.OneByteReader(bytes.NewReader(tt.newer))},
		} {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				st := roundTrip(t, tt.old, tt.newer, tt.blockSize, rd.r)
				if st.literal > tt.maxLiteral {
					t.Errorf("sent %d literal bytes, want at most %d", st.literal, tt.maxLiteral)
				}
				if tt.maxOps > 0 && st.ops > tt.maxOps {
					t.Errorf("sent %d ops, want at most %d", st.ops, tt.maxOps)
				}
			})
		}
	}
}

// TestRewrite256MiB checks the goal: rewriting 1 MiB inside a 256 MiB file sends less than 5%
// of the file, signature included.
func TestRewrite256MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping 256 MiB round trip in short mode")
	}
	old, newer := rewritten256MiB()
	st := roundTrip(t, old, newer, 0, bytes.NewReader(newer))
	wire := st.sigBytes + st.literal
	t.Logf("signature %d bytes, literals %d bytes, %d ops: %.2f%% of the file",
		st.sigBytes, st.literal, st.ops, 100*float64(wire)/float64(len(newer)))
	if wire >= len(newer)/20 {
		t.Errorf("sent %d bytes, want less than 5%% of %d", wire, len(newer))
	}
}

// rewritten256MiB returns a 256 MiB file and a copy with 1 MiB rewritten in the middle, at
// an offset that is not a multiple of the block size.
func rewritten256MiB() (old, newer []byte) {
	old = random(1, 256<<20)
	newer = bytes.Clone(old)
	copy(newer[128<<20+12345:], random(2, 1<<20))
	return old, newer
}

func TestBlockSize(t *testing.T) {
	tests := []struct {
		size int64
		want int
	}{
		{-1, 4 << 10},
		{0, 4 << 10},
		{1 << 20, 4 << 10},
		{64 << 20, 8 << 10},
		{256 << 20, 16 << 10},
		{256<<20 + 1, 16 << 10}, // the root is rounded down before the page rounding up
		{300 << 20, 20 << 10},
		{10 << 30, 104 << 10},
		{1 << 40, 1 << 20},
		{1 << 62, 1 << 20},
	}
	for _, tt := range tests {
		if got := BlockSize(tt.size); got != tt.want {
			t.Errorf("BlockSize(%d) = %d, want %d", tt.size, got, tt.want)
		}
	}
}

// TestWeakSum checks the unrolled weakSum against the polynomial's definition.
func TestWeakSum(t *testing.T) {
	if p8 := weakTables[0][1] * weakP; p8 != weakP8 {
		t.Errorf("P^8 = %#x, weakP8 says %#x", p8, weakP8)
	}
	data := random(1, 100)
	for n := range len(data) {
		var want uint32
		for _, c := range data[:n] {
			want = want*weakP + uint32(c)
		}
		if got := weakSum(data[:n]); got != want {
			t.Fatalf("weakSum of %d bytes = %#x, want %#x", n, got, want)
		}
	}
}

// TestRoll checks that sliding the window gives the hash of the window, for every length
// the unrolled weakSum treats differently.
func TestRoll(t *testing.T) {
	data := random(1, 300)
	for n := 1; n < 12; n++ {
		tab := newOutTable(n)
		h := weakSum(data[:n])
		for i := 1; i+n <= len(data); i++ {
			h = tab.roll(h, data[i-1], data[i+n-1])
			if want := weakSum(data[i : i+n]); h != want {
				t.Fatalf("window %d of %d bytes: rolled %#x, want %#x", i, n, h, want)
			}
		}
	}
}
