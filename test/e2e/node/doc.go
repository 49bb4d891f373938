// Package node runs the pods of a throw-away cluster (package cluster) without a
// container runtime: an agent in the test process plays the kubelet of one Node, the
// scheduler, and the few kube-controller-manager controllers pods and claims need, all
// through client-go against the real kube-apiserver.
//
// Design:
//
//   - Every pod process runs in one network namespace, the cluster's (a testenv.Netns):
//     pods share it as the containers of one pod share theirs. Each pod still gets its
//     own address from Options.PodCIDR, added as a /32 on the namespace's lo and removed
//     when the pod ends; a server that must be reachable at its pod's IP binds to it
//     (status.podIP through the downward API). The Node's InternalIP and every pod's
//     hostIP is Options.NodeIP.
//   - A container is started as `ip netns exec <netns> podexec -spec <json> -- <argv>`.
//     ip netns exec gives the process a mount namespace of its own; podexec
//     (test/e2e/cmd/podexec, built once per test binary) bind-mounts the volumes at
//     their mount paths, sets the host name and working folder, switches to runAsUser /
//     runAsGroup, and execs the program. Each process leads its own process group,
//     which is the container: SIGTERM, the grace period, then SIGKILL. Mount points
//     missing on the host (/data, /var/run/secrets/..., /dev/termination-log) are
//     created on the host's file system, empty.
//   - Images are binaries: Options.Images maps a reference (or a prefix ending in "*")
//     to the program that is the image's entrypoint. A command naming the entrypoint
//     ("ferry", "/usr/local/bin/ferry") runs the binary; other commands ("sh") run from
//     the host's PATH. Images run as root unless runAsUser says otherwise.
//   - Volumes live under Options.Dir/pods/<uid>/volumes: emptyDir (kept across
//     restarts), secret, configMap, downwardAPI, projected (serviceAccountToken through
//     the TokenRequest API, so the kube-api-access-* volume of every pod works),
//     hostPath, and persistentVolumeClaim. Claims of a class with provisioner
//     ferry.test/hostpath (the agent creates the default class "standard") get a
//     hostPath PersistentVolume under Options.Dir/volumes, deleted with its folder when
//     the claim goes.
//   - Logs of every run are kept under Options.Dir/logs/<ns>_<pod>_<uid>/<container>/<run>.log
//     (Agent.Logs, Agent.LogPath), also after the pod is deleted.
//   - In place of kube-controller-manager the agent creates the "default" ServiceAccount
//     and the kube-root-ca.crt ConfigMap in every namespace (Agent.WaitServiceAccount
//     waits for the first), binds claims and removes the pvc-protection and
//     pv-protection finalizers when nothing uses the object any more.
//
// Not supported: container isolation of any kind (processes see the host's file
// system, processes and users), resource limits, liveness and startup probes (readiness
// probes are run: tcpSocket, httpGet, exec), sidecar containers (init containers with
// restartPolicy Always run as plain ones, so a long-lived one blocks the pod),
// activeDeadlineSeconds, ephemeral containers, exec/attach/port-forward and the
// kubelet's HTTP port, updates of Secret and ConfigMap volumes after the pod starts,
// token refresh, generic ephemeral and block volumes, volume types other than those
// above, node selectors, affinity, taints and resources in scheduling (there is one
// node), namespace deletion (there is no namespace controller: a deleted namespace
// stays Terminating), and garbage collection of owned objects.
package node
