package delta

// The weak hash is a polynomial (Rabin-Karp) hash modulo 2^32:
//
//	weak(x[0..n)) = x[0]·P^(n-1) + x[1]·P^(n-2) + … + x[n-1]
//
// Sliding the window one byte costs a multiply, an add and a table lookup (see outTable).
// Unlike rsync's Adler-style sum it mixes every bit of every byte, so similar blocks (text,
// sparse data) rarely collide.
const weakP uint32 = 0x9E3779B1 // odd, so that multiplying by it loses nothing

// weakTables[k][c] is c·P^(7-k), the term of byte c at position k of 8. Table lookups are
// cheaper than multiplies, which is most of the time Sign spends outside BLAKE3.
var weakTables = func() (t [8][256]uint32) {
	pk := uint32(1)
	for k := 7; k >= 0; k-- {
		for c := range t[k] {
			t[k][c] = uint32(c) * pk
		}
		pk *= weakP
	}
	return t
}()

// weakP8 is P^8 mod 2^32 (checked by TestWeakSum).
const weakP8 uint32 = 0x4B180981

// weakSum returns the weak hash of b, eight bytes at a time.
func weakSum(b []byte) uint32 {
	t := &weakTables
	var h uint32
	for len(b) >= 8 {
		h = h*weakP8 + (t[0][b[0]] + t[1][b[1]] + t[2][b[2]] + t[3][b[3]]) +
			(t[4][b[4]] + t[5][b[5]] + t[6][b[6]] + t[7][b[7]])
		b = b[8:]
	}
	for _, c := range b {
		h = h*weakP + uint32(c)
	}
	return h
}

// outTable holds, for each byte value c, c·P^n: what a byte leaving a window of n bytes
// contributes once the hash has been multiplied by P for the byte coming in.
type outTable [256]uint32

func newOutTable(n int) *outTable {
	pn := uint32(1)
	for range n {
		pn *= weakP
	}
	t := new(outTable)
	for c := range t {
		t[c] = uint32(c) * pn
	}
	return t
}

// roll returns the weak hash of the window moved one byte: out leaves, in enters.
func (t *outTable) roll(h uint32, out, in byte) uint32 {
	return h*weakP + (uint32(in) - t[out]) // the lookup stays off the chain from h to h
}
