// Package cluster starts real, throw-away Kubernetes API servers for ferry's
// end-to-end tests: one etcd and one kube-apiserver per cluster, built from their
// Go modules by test/e2e/build-apiserver.sh, with an admin kubeconfig written for
// clients (client-go, kubectl, ferry itself). There is no kubelet, scheduler or
// controller-manager: objects are stored and served, but pods never run.
package cluster
