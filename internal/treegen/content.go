package treegen

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Streams of random content, so that no two uses of the seed share a ChaCha8 key.
const (
	streamSmall uint64 = iota + 1
	streamLarge
	streamFidelity
	streamMutate
)

// newRand returns the ChaCha8 stream for (seed, stream, index, sub).
func newRand(seed int64, stream, index, sub uint64) *rand.ChaCha8 {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], uint64(seed))
	binary.LittleEndian.PutUint64(key[8:], stream)
	binary.LittleEndian.PutUint64(key[16:], index)
	binary.LittleEndian.PutUint64(key[24:], sub)
	return rand.NewChaCha8(key)
}

// fillRand fills b with the start of the stream (seed, stream, index, sub).
func fillRand(b []byte, seed int64, stream, index, sub uint64) {
	r := newRand(seed, stream, index, sub)
	_, _ = r.Read(b) // never fails
}

// genTime is the reference for generated mtimes: an odd nanosecond count, so that a copy that
// rounds to microseconds shows.
var genTime = time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC).UnixNano()

const day = 24 * int64(time.Hour)

// pathTime is the mtime Generate gives the object at rel: up to 400 days before genTime,
// fixed by the path alone.
func pathTime(rel string) int64 {
	return genTime - int64(hash64(rel)%uint64(400*day))
}

// mutateTime is the mtime Mutate gives what it touches at rel: 500 to 530 days after genTime.
func mutateTime(seed int64, rel string) int64 {
	return genTime + 500*day + int64(hash64(rel, uint64(seed))%uint64(30*day))
}

func hash64(s string, extra ...uint64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	for _, x := range extra {
		h.Write(binary.LittleEndian.AppendUint64(nil, x))
	}
	return h.Sum64()
}

// parallel calls fn(i, buf) for every i in [0, n) from one goroutine per core; each goroutine
// has its own scratch buffer of bufSize bytes. It returns the first error, or the context's.
func parallel(ctx context.Context, n, bufSize int, fn func(i int, buf []byte) error) error {
	var next atomic.Int64
	var once sync.Once
	var first error
	fail := func(err error) { once.Do(func() { first = err }) }
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			buf := make([]byte, bufSize)
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := ctx.Err(); err != nil {
					fail(err)
					return
				}
				if err := fn(i, buf); err != nil {
					fail(err)
					next.Store(int64(n)) // the others stop at their next item
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}
