package treediff

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/ferrydvm/ferry/internal/scan"
	"github.com/zeebo/blake3"
)

// hashChunk is the read size when hashing: files are never held in memory whole.
const hashChunk = 256 << 10

// hashPool compares file contents on a few goroutines.
type hashPool struct {
	ctx   context.Context
	a, b  string
	jobs  chan string
	wg    sync.WaitGroup
	mu    sync.Mutex
	diffs []Difference
	err   error
}

func newHashPool(ctx context.Context, a, b string) *hashPool {
	p := &hashPool{ctx: ctx, a: a, b: b, jobs: make(chan string, 64)}
	for range max(2, runtime.GOMAXPROCS(0)) {
		p.wg.Go(p.work)
	}
	return p
}

// submit queues the path of two files of the same size to be compared.
func (p *hashPool) submit(path string) {
	select {
	case p.jobs <- path:
	case <-p.ctx.Done():
	}
}

// wait closes the queue, waits for the workers and returns what they found.
func (p *hashPool) wait() ([]Difference, error) {
	close(p.jobs)
	p.wg.Wait()
	return p.diffs, p.err
}

func (p *hashPool) work() {
	buf := make([]byte, hashChunk)
	for path := range p.jobs {
		if p.ctx.Err() != nil {
			continue // drain
		}
		d, err := p.compare(path, buf)
		p.mu.Lock()
		if err != nil && p.err == nil {
			p.err = err
		}
		if d != nil {
			p.diffs = append(p.diffs, *d)
		}
		p.mu.Unlock()
	}
}

// compare hashes path in both trees and returns a Difference if the hashes differ.
func (p *hashPool) compare(path string, buf []byte) (*Difference, error) {
	ha, err := hashFile(p.a, path, buf)
	if err != nil {
		return nil, err
	}
	hb, err := hashFile(p.b, path, buf)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(ha, hb) {
		return nil, nil
	}
	detail := fmt.Sprintf("blake3 %x… != %x…", ha[:8], hb[:8])
	return &Difference{Path: path, What: "content", Detail: detail}, nil
}

// hashFile returns the BLAKE3 hash of the file rel under root, read in chunks without
// following symlinks.
func hashFile(root, rel string, buf []byte) ([]byte, error) {
	f, err := scan.Open(root, rel)
	if err != nil {
		return nil, fmt.Errorf("hash: %w", err)
	}
	defer f.Close()
	h := blake3.New()
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, buf); err != nil {
		return nil, fmt.Errorf("hash %s: %w", f.Name(), err)
	}
	return h.Sum(nil), nil
}
