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
//	internal/probe       checks of the data path and of the API path
//	internal/config      MigrationController and cluster proxy settings, resolved
//	internal/kube        a whole migration between two clusters (ferry migrate)
//	internal/controller  reconcilers of the custom resources (ferry controller)
//	internal/testenv     real peers (squid, stunnel, rsync...) and network namespaces for tests
//	api/v1alpha1         the custom resource types (MTC's schema where MTC has one)
//	config/              CRDs, RBAC and the controller's Deployment (kustomize)
//	hack/image           builds ferry's container image without a container engine
//	test/e2e             its own module: two real API servers, a node agent, a router, squid
//	bench                benchmarks against the reference path (rsync + stunnel + squid)
//
// The data-path packages (proxy, pki, tunnel, wire, scan, delta, engine) import nothing from
// Kubernetes; a test in this package enforces it.
package ferry
