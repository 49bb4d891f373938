// Package kube runs a direct volume migration between two clusters: it builds the
// objects of a migration (Secrets, receiver and sender pods, Services, Routes, Ingresses)
// and drives them, for both `ferry migrate` and `ferry controller`.
//
// A migration (Migrate) goes:
//
//  1. preflight: both API servers answer; the source claims exist and are bound; target
//     claims exist or are created; the endpoint kind is available;
//  2. target: per target namespace, a Service and the endpoint (Route or Ingress with TLS
//     passthrough, LoadBalancer or NodePort), whose address decides the certificates'
//     names; then Secrets with this migration's certificates on both sides, and a
//     receiver pod (`ferry serve`) serving the namespace's claims;
//  3. probe: a pod on the source runs `ferry probe` through the data-path proxies; a
//     broken path stops the migration with the probe's diagnosis (and a dry run stops
//     there in any case);
//  4. copy: a sender pod (`ferry send`) per volume, on the node that mounts the claim,
//     reporting progress into a ConfigMap it alone may write; a failed sender is
//     replaced (up to the backoff limit) and resumes where the last one stopped;
//  5. cleanup: every object the migration created is deleted, on success and failure;
//     target claims stay, they hold the data.
//
// Nothing here uses exec, attach or port-forward: the data path is TLS from sender to
// receiver through the proxies, and progress travels through the API.
package kube
