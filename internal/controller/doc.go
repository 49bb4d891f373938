// Package controller is `ferry controller`: reconcilers for ferry's custom resources, thin
// over internal/kube, in a controller-runtime manager (leader election, metrics, health
// probes).
//
// The design:
//
//   - MigClusterReconciler turns a MigCluster into a rest.Config (the manager's own for the
//     host cluster; else url, the saToken of the Secret it names, caBundle or insecure, and
//     the API proxies of the MigrationController, the environment or the cluster Proxy
//     object) and asks the API server its version. The answer is the Ready condition; the
//     check is repeated every minute. Tokens never reach a log, an event or a status.
//   - DirectVolumeMigrationReconciler waits until both MigClusters are Ready, reads the
//     MigrationController of the controller's namespace through internal/config (absent
//     means every default), builds a kube.Spec (buildSpec) and runs kube.Migrate on a
//     goroutine of its own, one per DVM UID (runners). The goroutine's Reporter writes the
//     status at most every two seconds, always the last state, and records Events. A
//     finalizer keeps a DVM until its migration was cancelled and cleaned up. A finished
//     DVM is never run again (MTC's semantics: create a new DVM for the next stage); one
//     found Running without a goroutine (the controller restarted) is run again, which
//     resumes the copy where it stopped.
//   - MigrationControllerReconciler validates the MigrationController (it has no status)
//     and reports problems and unused fields as Events.
//
// Problems a user can fix without touching the DVM (a cluster not Ready, a
// MigrationController that does not validate) keep the DVM Pending with a message and are
// retried; only a migration that ran and failed makes it Failed.
package controller
