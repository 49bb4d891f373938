// Package ferry is the root of ferry, a tool that moves persistent-volume data between
// Kubernetes clusters over end-to-end mutual TLS, through HTTP CONNECT proxies.
//
// Where things live:
//
//	cmd/ferry            the binary: signals, root command, exit codes
//	internal/cli         one file per subcommand (runX functions that tests call)
//	internal/proxy       proxy URLs, the CONNECT dialer and chains of proxies
//	internal/pki         the certificates of one migration
//	internal/tunnel      TLS policy, interception detection, stunnel-style forwarders
//	internal/wire        frames of the transfer protocol
//	internal/scan        walking a tree and reading every piece of metadata
//	internal/delta       block signatures and deltas of changed large files
//	internal/engine      sender and receiver of a volume copy
//	internal/testenv     real peers (squid, stunnel, rsync...) and network namespaces for tests
//	bench                benchmarks against the reference path (rsync + stunnel + squid)
//
// The data-path packages (proxy, pki, tunnel, wire, scan, delta, engine) import nothing from
// Kubernetes; a test in this package enforces it.
package ferry
