package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
)

const (
	// Provisioner is the provisioner name of the StorageClasses the agent serves.
	Provisioner = "ferry.test/hostpath"
	// DefaultStorageClass is the class the agent creates when there is no default one.
	DefaultStorageClass = "standard"

	annDefaultClass   = "storageclass.kubernetes.io/is-default-class"
	annProvisionedBy  = "pv.kubernetes.io/provisioned-by"
	annBindCompleted  = "pv.kubernetes.io/bind-completed"
	annBoundByCtrl    = "pv.kubernetes.io/bound-by-controller"
	annStorageProv    = "volume.kubernetes.io/storage-provisioner"
	pvcProtection     = "kubernetes.io/pvc-protection"
	pvProtection      = "kubernetes.io/pv-protection"
	defaultVolumeSize = "1Gi"
)

// ensureStorageClass creates the default class "standard" unless a default class exists.
func (a *Agent) ensureStorageClass(ctx context.Context) error {
	classes := a.client.StorageV1().StorageClasses()
	list, err := classes.List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list storage classes: %w", err)
	}
	for _, c := range list.Items {
		if c.Annotations[annDefaultClass] == "true" {
			return nil
		}
	}
	deleteVolumes := corev1.PersistentVolumeReclaimDelete
	immediate := storagev1.VolumeBindingImmediate
	class := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: DefaultStorageClass, Annotations: map[string]string{annDefaultClass: "true"}},
		Provisioner:       Provisioner,
		ReclaimPolicy:     &deleteVolumes,
		VolumeBindingMode: &immediate,
	}
	if _, err := classes.Create(ctx, class, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create storage class %s: %w", DefaultStorageClass, err)
	}
	return nil
}

// claimClass is the class a claim asks for, "" for none.
func claimClass(pvc *corev1.PersistentVolumeClaim) string {
	if pvc.Spec.StorageClassName != nil {
		return *pvc.Spec.StorageClassName
	}
	return pvc.Annotations[corev1.BetaStorageClassAnnotation]
}

// claimChanged queues a claim, its volume, and the pods that wait for it.
func (a *Agent) claimChanged(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return
	}
	a.storage.add("pvc/" + pvc.Namespace + "/" + pvc.Name)
	if pvc.Spec.VolumeName != "" {
		a.storage.add("pv/" + pvc.Spec.VolumeName)
	}
	a.rescheduleClaimUsers(pvc.Namespace, pvc.Name)
	a.kickNamespace(pvc.Namespace)
}

// volumeChanged queues a volume and its claim.
func (a *Agent) volumeChanged(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return
	}
	a.storage.add("pv/" + pv.Name)
	if ref := pv.Spec.ClaimRef; ref != nil {
		a.storage.add("pvc/" + ref.Namespace + "/" + ref.Name)
	}
}

// syncStorage handles a key of the storage queue: "pvc/<namespace>/<name>" or "pv/<name>".
func (a *Agent) syncStorage(ctx context.Context, key string) error {
	kind, name, _ := strings.Cut(key, "/")
	if kind == "pv" {
		return a.syncVolume(ctx, name)
	}
	ns, name, _ := strings.Cut(name, "/")
	return a.syncClaim(ctx, ns, name)
}

// syncClaim provisions and binds a pending claim of a class the agent serves, and lets a
// claim being deleted go once no pod uses it.
func (a *Agent) syncClaim(ctx context.Context, ns, name string) error {
	pvc, err := a.pvcs.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pvc.DeletionTimestamp != nil {
		return a.releaseClaim(ctx, pvc)
	}
	if pvc.Status.Phase == corev1.ClaimBound && pvc.Spec.VolumeName != "" {
		return nil
	}
	if pvc.Spec.VolumeName != "" {
		// Pre-bound to a volume, made by the agent or by the test.
		pv, err := a.pvs.Get(pvc.Spec.VolumeName)
		if err != nil {
			return fmt.Errorf("bind claim %s/%s: volume %s: %w", ns, name, pvc.Spec.VolumeName, err)
		}
		return a.bind(ctx, pvc, pv)
	}
	if pvc.Spec.StorageClassName == nil && pvc.Annotations[corev1.BetaStorageClassAnnotation] == "" {
		return a.assignDefaultClass(ctx, pvc)
	}
	class, err := a.classes.Get(claimClass(pvc))
	if apierrors.IsNotFound(err) || err == nil && class.Provisioner != Provisioner {
		return nil // not ours
	}
	if err != nil {
		return err
	}
	if class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer &&
		pvc.Annotations[annSelectedNode] != a.o.NodeName {
		return nil // the scheduler selects the node when a pod needs the claim
	}
	if pvc.Spec.VolumeMode != nil && *pvc.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		return nil // block volumes are not supported
	}
	pv, err := a.provision(ctx, pvc, class)
	if err != nil {
		return err
	}
	return a.bind(ctx, pvc, pv)
}

// assignDefaultClass gives a claim without a class the default class, as the
// PersistentVolume controller does for claims made before a default class existed.
func (a *Agent) assignDefaultClass(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	classes, err := a.classes.List(labels.Everything())
	if err != nil {
		return err
	}
	for _, c := range classes {
		if c.Annotations[annDefaultClass] != "true" || c.Provisioner != Provisioner {
			continue
		}
		return a.updateClaim(ctx, pvc, func(p *corev1.PersistentVolumeClaim) {
			if p.Spec.StorageClassName == nil {
				p.Spec.StorageClassName = &c.Name
			}
		})
	}
	return nil
}

// provision creates the host folder and the PersistentVolume for a claim.
func (a *Agent) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim, class *storagev1.StorageClass) (*corev1.PersistentVolume, error) {
	name := "pvc-" + string(pvc.UID)
	if pv, err := a.pvs.Get(name); err == nil {
		return pv, nil
	}
	dir := filepath.Join(a.o.Dir, "volumes", name)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("provision volume for claim %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	// Any user of a pod may write, as with hostPath provisioners (the umask took some).
	if err := os.Chmod(dir, 0o777); err != nil {
		return nil, fmt.Errorf("provision volume for claim %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	size, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok || size.IsZero() {
		size = resource.MustParse(defaultVolumeSize)
	}
	modes := pvc.Spec.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	filesystem := corev1.PersistentVolumeFilesystem
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{annProvisionedBy: Provisioner}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   modes,
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              class.Name,
			MountOptions:                  class.MountOptions,
			VolumeMode:                    &filesystem,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{a.o.NodeName},
				}}}},
			}},
		},
	}
	created, err := a.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = a.client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("create volume for claim %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	return created, nil
}

// bind binds a claim and a volume both ways and marks both Bound. Each step is skipped
// when already done, so a bind cut short is finished by the next sync.
func (a *Agent) bind(ctx context.Context, pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) error {
	if ref := pv.Spec.ClaimRef; ref != nil && ref.UID != "" && ref.UID != pvc.UID {
		return nil // the volume belongs to another claim: the claim stays Pending
	}
	volumes := a.client.CoreV1().PersistentVolumes()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := volumes.Get(ctx, pv.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.Spec.ClaimRef == nil || cur.Spec.ClaimRef.UID != pvc.UID {
			cur.Spec.ClaimRef = &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID,
			}
			if cur, err = volumes.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
				return err
			}
		}
		if cur.Status.Phase != corev1.VolumeBound {
			cur.Status.Phase = corev1.VolumeBound
			_, err = volumes.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		}
		pv = cur
		return err
	})
	if err != nil {
		return fmt.Errorf("bind volume %s to claim %s/%s: %w", pv.Name, pvc.Namespace, pvc.Name, err)
	}
	return a.updateClaim(ctx, pvc, func(p *corev1.PersistentVolumeClaim) {
		p.Spec.VolumeName = pv.Name
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[annBindCompleted] = "yes"
		p.Annotations[annBoundByCtrl] = "yes"
		if pv.Annotations[annProvisionedBy] != "" {
			p.Annotations[annStorageProv] = pv.Annotations[annProvisionedBy]
		}
	}, func(p *corev1.PersistentVolumeClaim) {
		p.Status.Phase = corev1.ClaimBound
		p.Status.AccessModes = pv.Spec.AccessModes
		p.Status.Capacity = pv.Spec.Capacity
	})
}

// updateClaim applies change to the claim's object and then status to its status,
// writing only what changed; conflicts are retried on a fresh copy.
func (a *Agent) updateClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim, change func(*corev1.PersistentVolumeClaim), status ...func(*corev1.PersistentVolumeClaim)) error {
	claims := a.client.CoreV1().PersistentVolumeClaims(pvc.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := claims.Get(ctx, pvc.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != pvc.UID {
			return apierrors.NewNotFound(corev1.Resource("persistentvolumeclaims"), pvc.Name)
		}
		next := cur.DeepCopy()
		change(next)
		if !apiequality.Semantic.DeepEqual(cur, next) {
			if cur, err = claims.Update(ctx, next, metav1.UpdateOptions{}); err != nil {
				return err
			}
		}
		for _, f := range status {
			next = cur.DeepCopy()
			f(next)
			if !apiequality.Semantic.DeepEqual(cur, next) {
				if cur, err = claims.UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update claim %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	return nil
}

// releaseClaim removes the protection finalizer of a claim being deleted once no pod
// that may still run uses it (the pvc-protection controller's job).
func (a *Agent) releaseClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if !slices.Contains(pvc.Finalizers, pvcProtection) {
		return nil
	}
	pods, err := a.pods.Pods(pvc.Namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	for _, pod := range pods {
		if usesClaim(pod, pvc.Name) && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
			return nil // queued again when the pod ends or goes
		}
	}
	return a.updateClaim(ctx, pvc, func(p *corev1.PersistentVolumeClaim) {
		p.Finalizers = slices.DeleteFunc(p.Finalizers, func(f string) bool { return f == pvcProtection })
	})
}

// syncVolume deletes a volume the agent provisioned once its claim is gone, with its
// folder, when its reclaim policy is Delete; it marks it Released otherwise.
func (a *Agent) syncVolume(ctx context.Context, name string) error {
	pv, err := a.pvs.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	ref := pv.Spec.ClaimRef
	if pv.Annotations[annProvisionedBy] != Provisioner || ref == nil || pv.Status.Phase == corev1.VolumeReleased {
		return nil
	}
	if pvc, err := a.pvcs.PersistentVolumeClaims(ref.Namespace).Get(ref.Name); err == nil && pvc.UID == ref.UID {
		return nil
	}
	// The cache may lag behind: ask the API server before letting the volume go.
	pvc, err := a.client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err == nil && pvc.UID == ref.UID {
		return nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := a.client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Status.Phase = corev1.VolumeReleased
			_, err = a.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
			return err
		})
	}
	return a.deleteVolume(ctx, pv)
}

// deleteVolume deletes a released volume (its protection finalizer too: no controller
// runs to remove it) and then its folder.
func (a *Agent) deleteVolume(ctx context.Context, pv *corev1.PersistentVolume) error {
	volumes := a.client.CoreV1().PersistentVolumes()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := volumes.Get(ctx, pv.Name, metav1.GetOptions{})
		if err != nil || !slices.Contains(cur.Finalizers, pvProtection) {
			return err
		}
		cur.Finalizers = slices.DeleteFunc(cur.Finalizers, func(f string) bool { return f == pvProtection })
		_, err = volumes.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err == nil {
		err = volumes.Delete(ctx, pv.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pv.UID}})
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete released volume %s: %w", pv.Name, err)
	}
	if hp := pv.Spec.HostPath; hp != nil && filepath.Dir(hp.Path) == filepath.Join(a.o.Dir, "volumes") {
		if err := os.RemoveAll(hp.Path); err != nil {
			return fmt.Errorf("delete folder of volume %s: %w", pv.Name, err)
		}
	}
	return nil
}

// claimPath returns the host folder of a bound claim's volume, asking the API server.
func (a *Agent) claimPath(ctx context.Context, ns, claim string) (string, error) {
	pvc, err := a.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		return "", fmt.Errorf("%w (phase %s)", errClaimNotBound, pvc.Status.Phase)
	}
	pv, err := a.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	switch {
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path, nil
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path, nil
	}
	return "", fmt.Errorf("volume %s is neither hostPath nor local", pv.Name)
}

// errClaimNotBound marks a claim without a volume yet.
var errClaimNotBound = errors.New("claim is not bound")
