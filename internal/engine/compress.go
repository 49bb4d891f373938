package engine

import (
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Compression, when the sender asks for it, covers everything the sender writes after the
// handshake. It is for slow links: on a fast one it costs more CPU than it saves time.

func compressWriter(w io.Writer) (io.Writer, func(), error) {
	enc, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, nil, fmt.Errorf("start compression: %w", err)
	}
	return enc, func() { enc.Close() }, nil
}

func decompressReader(r io.Reader) (io.Reader, func(), error) {
	dec, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("start decompression: %w", err)
	}
	return dec, dec.Close, nil
}
