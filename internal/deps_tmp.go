// Package internal holds ferry's implementation packages.
//
// This file pins dependencies in go.mod while the packages that use them are written.
package internal

import (
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/pkg/xattr"
	_ "github.com/spf13/cobra"
	_ "github.com/vbauerster/mpb/v8"
	_ "github.com/zeebo/blake3"
	_ "golang.org/x/net/http/httpproxy"
	_ "golang.org/x/net/nettest"
	_ "golang.org/x/sys/unix"
)
