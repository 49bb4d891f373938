// Package router plays OpenShift's default router, and an ingress controller with SSL
// passthrough, for the end-to-end environment: a real HAProxy in the target cluster's
// network namespace, on port 443, that routes TLS connections by SNI to the pods behind
// Routes and Ingresses, never terminating TLS.
//
// It watches Routes (route.openshift.io/v1, served by a CRD here), Ingresses, Services
// and Pods, and on every change writes a new haproxy.cfg, checks it with `haproxy -c` and
// reloads HAProxy (master-worker mode, SIGUSR2), which keeps established connections.
//
// As OpenShift does, it gives a Route without spec.host the host
// <name>-<namespace>.<subdomain> and reports status.ingress with an Admitted condition.
// Only passthrough Routes are admitted; others are reported not admitted. An Ingress is
// served when it asks for passthrough (annotation nginx.ingress.kubernetes.io/ssl-passthrough:
// "true", or route.openshift.io/termination: passthrough) and gets the router's address
// in status.loadBalancer. Names resolve through the environment's DNS, not through here.
package router
