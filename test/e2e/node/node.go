package node

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// leaseNamespace holds the Node heartbeats.
const leaseNamespace = "kube-node-lease"

// heartbeatPeriod is how often the Node's Lease is renewed (the kubelet's default).
const heartbeatPeriod = 10 * time.Second

// registerNode creates the Node, reports it Ready with its addresses and capacity, and
// removes the not-ready taint admission gave it (no node controller runs to do that).
func (a *Agent) registerNode(ctx context.Context) error {
	nodes := a.client.CoreV1().Nodes()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: a.o.NodeName,
			Labels: map[string]string{
				corev1.LabelHostname:   a.o.NodeName,
				corev1.LabelOSStable:   "linux",
				corev1.LabelArchStable: runtime.GOARCH,
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: a.o.PodCIDR, PodCIDRs: []string{a.o.PodCIDR}},
	}
	if _, err := nodes.Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register node %s: %w", a.o.NodeName, err)
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := nodes.Get(ctx, a.o.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status = a.nodeStatus()
		_, err = nodes.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("report status of node %s: %w", a.o.NodeName, err)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := nodes.Get(ctx, a.o.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		taints := slices.DeleteFunc(slices.Clone(cur.Spec.Taints), func(t corev1.Taint) bool {
			return t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable
		})
		if len(taints) == len(cur.Spec.Taints) {
			return nil
		}
		cur.Spec.Taints = taints
		_, err = nodes.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("remove not-ready taint of node %s: %w", a.o.NodeName, err)
	}
	// kube-node-lease may not be there yet on a new cluster: heartbeat tries again.
	_ = a.renewLease(ctx)
	return nil
}

// nodeStatus is the status the agent reports: Ready, with the host's CPUs and memory.
func (a *Agent) nodeStatus() corev1.NodeStatus {
	now := metav1.Now()
	memory := int64(8 << 30)
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) == nil {
		memory = int64(si.Totalram) * int64(si.Unit)
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(memory, resource.BinarySI),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	condition := func(typ corev1.NodeConditionType, status corev1.ConditionStatus, reason, message string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: typ, Status: status, Reason: reason, Message: message,
			LastHeartbeatTime: now, LastTransitionTime: now}
	}
	hostname, _ := os.Hostname()
	return corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{
			condition(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			condition(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			condition(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			condition(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
		},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: a.o.NodeIP},
			{Type: corev1.NodeHostName, Address: a.o.NodeName},
		},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               hostname,
			OperatingSystem:         "linux",
			Architecture:            runtime.GOARCH,
			OSImage:                 "ferry e2e node agent",
			ContainerRuntimeVersion: "ferry://podexec",
			KubeletVersion:          "v0.0.0-ferry-e2e",
		},
	}
}

// heartbeat renews the Node's Lease until ctx ends.
func (a *Agent) heartbeat(ctx context.Context) {
	tick := time.NewTicker(heartbeatPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := a.renewLease(ctx); err != nil && ctx.Err() == nil {
			a.logf("node %s: %v", a.o.NodeName, err)
		}
	}
}

// renewLease creates or renews the Node's Lease in kube-node-lease.
func (a *Agent) renewLease(ctx context.Context) error {
	leases := a.client.CoordinationV1().Leases(leaseNamespace)
	now := metav1.NewMicroTime(time.Now())
	holder := a.o.NodeName
	duration := int32(40)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		lease, err := leases.Get(ctx, a.o.NodeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			lease = &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: a.o.NodeName},
				Spec: coordinationv1.LeaseSpec{
					HolderIdentity: &holder, LeaseDurationSeconds: &duration, RenewTime: &now,
				},
			}
			_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		lease.Spec.HolderIdentity, lease.Spec.LeaseDurationSeconds, lease.Spec.RenewTime = &holder, &duration, &now
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("renew lease of node %s: %w", a.o.NodeName, err)
	}
	return nil
}

// deleteNode removes the Node and its Lease; the agent's context has ended by then.
func (a *Agent) deleteNode() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.client.CoreV1().Nodes().Delete(ctx, a.o.NodeName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		a.logf("node %s: delete node: %v", a.o.NodeName, err)
	}
	err := a.client.CoordinationV1().Leases(leaseNamespace).Delete(ctx, a.o.NodeName, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		a.logf("node %s: delete lease: %v", a.o.NodeName, err)
	}
}
