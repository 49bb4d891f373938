package delta

import "math/bits"

// index finds the full-size blocks of a signature by weak hash. A bit filter answers "surely
// not here" for most positions of a changed region; only on a filter hit are the hash chains
// walked.
type index struct {
	blocks []Block
	filter filter
	head   []int32 // per bucket, 1 + first block of its chain (0: empty)
	next   []int32 // per block, 1 + next block of its chain (0: end)
	hshift uint    // bucket = mix(weak) >> hshift
}

// maxChain bounds how many blocks of a chain are examined. Long chains only come from many
// distinct blocks sharing a weak hash (or a hostile signature); missing a match there costs
// some literal bytes, never correctness.
const maxChain = 32

// mix spreads the weak hash so that its high bits can index the tables.
func mix(weak uint32) uint32 { return weak * 0x85EBCA6B }

// newIndex indexes blocks, the full-size blocks of a signature. Identical blocks (zeroes of a
// sparse file, say) are indexed once.
func newIndex(blocks []Block) *index {
	x := &index{blocks: blocks, next: make([]int32, len(blocks))}
	x.filter = newFilter(len(blocks))
	hbits := tableBits(len(blocks), 4, 26)
	x.head = make([]int32, 1<<hbits)
	x.hshift = 32 - hbits
	for i, b := range blocks {
		m := mix(b.Weak)
		bucket := m >> x.hshift
		if x.find(b.Weak, func() [16]byte { return b.Strong }) >= 0 {
			continue
		}
		x.next[i] = x.head[bucket]
		x.head[bucket] = int32(i + 1)
		x.filter.add(b.Weak)
	}
	return x
}

// tableBits returns log2 of the smallest power of two >= n, within [lo, hi].
func tableBits(n int, lo, hi uint) uint {
	b := uint(bits.Len(uint(max(n, 1) - 1)))
	return min(max(b, lo), hi)
}

// filter is a bit set of weak hashes with 64 to 128 bits per block: at most 1.6% of the
// positions of a changed region pass it, and it fits in the L2 cache for files of a few GiB
// (128 KiB for 256 MiB).
type filter struct {
	bits  []uint64
	shift uint // bit = mix(weak) >> shift
}

func newFilter(blocks int) filter {
	n := tableBits(blocks*64, 10, 27) // at most 16 MiB
	return filter{bits: make([]uint64, 1<<n/64), shift: 32 - n}
}

func (f filter) add(weak uint32) {
	k := mix(weak) >> (f.shift & 31)
	f.bits[k/64] |= 1 << (k % 64)
}

// mayHave reports whether weak may have been added.
func (f filter) mayHave(weak uint32) bool {
	k := mix(weak) >> (f.shift & 31) // shift < 32; saying so spares a branch
	return f.bits[k/64]&(1<<(k%64)) != 0
}

// find returns a block with this weak hash whose strong hash is strong(), or -1. strong is
// called at most once, and only if some block has the weak hash.
func (x *index) find(weak uint32, strong func() [16]byte) int {
	var s [16]byte
	var have bool
	i := x.head[mix(weak)>>x.hshift]
	for range maxChain {
		if i == 0 {
			break
		}
		b := &x.blocks[i-1]
		if b.Weak == weak {
			if !have {
				s, have = strong(), true
			}
			if b.Strong == s {
				return int(i - 1)
			}
		}
		i = x.next[i-1]
	}
	return -1
}
