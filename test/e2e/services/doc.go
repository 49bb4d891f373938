// Package services makes Kubernetes Services work in the end-to-end environment, where
// there is no kube-proxy: a userspace relay per cluster, run by the test process, that
// listens inside the cluster's network namespace and forwards each connection to a ready
// pod behind the Service.
//
//   - ClusterIP: the Service's cluster IP is added as a /32 on the namespace's loopback, and
//     the relay listens on it for each TCP port. The "kubernetes" Service in "default"
//     forwards to the API server itself, which runs in the test's own namespace, so pods can
//     use in-cluster configuration.
//   - NodePort: the relay also listens on the node address at the node port.
//   - LoadBalancer: the Service gets the next free address of a pool, added to the
//     namespace's outward interface (so a neighbouring namespace reaches it), reported in
//     status.loadBalancer.ingress, and served like a cluster IP.
//
// Endpoints are computed from the pods the Service selects (running, Ready, with an IP),
// at each new connection, round robin; there are no Endpoints or EndpointSlice objects.
// UDP and session affinity are not supported.
package services
