package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// hostVolume is the host folder that backs one volume of a pod.
type hostVolume struct {
	path     string
	readOnly bool
}

// volumeFile is one file of a Secret, ConfigMap, downward API or projected volume.
type volumeFile struct {
	path string // relative to the volume
	data []byte
	mode fs.FileMode
}

// defaultFileMode is the mode of volume files when the spec gives none (0644).
const defaultFileMode = 0o644

// prepareVolumes sets up every volume of the pod under its folder. Volumes are set up
// once, before the first container starts: later changes to Secrets and ConfigMaps, and
// token expiry, are not followed.
func (w *podWorker) prepareVolumes(ctx context.Context, pod *corev1.Pod) (map[string]hostVolume, error) {
	src := w.newSources(ctx)
	var fsGroup *int64
	if pod.Spec.SecurityContext != nil {
		fsGroup = pod.Spec.SecurityContext.FSGroup
	}
	out := make(map[string]hostVolume, len(pod.Spec.Volumes))
	for _, v := range pod.Spec.Volumes {
		hv, err := w.prepareVolume(ctx, src, pod, v, fsGroup)
		if err != nil {
			return nil, fmt.Errorf("set up volume %q: %w", v.Name, err)
		}
		out[v.Name] = hv
	}
	return out, nil
}

func (w *podWorker) prepareVolume(ctx context.Context, src *sources, pod *corev1.Pod, v corev1.Volume, fsGroup *int64) (hostVolume, error) {
	dir := filepath.Join(w.dir, "volumes", v.Name)
	var files []volumeFile
	var err error
	switch {
	case v.EmptyDir != nil:
		// Made once: it outlives container restarts, as it should.
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return hostVolume{}, err
		}
		return hostVolume{path: dir}, chmodGroup(dir, 0o777, fsGroup)
	case v.PersistentVolumeClaim != nil:
		path, err := w.a.claimPath(ctx, pod.Namespace, v.PersistentVolumeClaim.ClaimName)
		if apierrors.IsNotFound(err) {
			return hostVolume{}, fmt.Errorf("persistentvolumeclaim %q not found", v.PersistentVolumeClaim.ClaimName)
		}
		if errors.Is(err, errClaimNotBound) {
			return hostVolume{}, fmt.Errorf("persistentvolumeclaim %q is not bound", v.PersistentVolumeClaim.ClaimName)
		}
		return hostVolume{path: path, readOnly: v.PersistentVolumeClaim.ReadOnly}, err
	case v.HostPath != nil:
		return hostPathVolume(v.HostPath)
	case v.Secret != nil:
		files, err = secretFiles(src, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, v.Secret.DefaultMode)
	case v.ConfigMap != nil:
		files, err = configMapFiles(src, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, v.ConfigMap.DefaultMode)
	case v.DownwardAPI != nil:
		files, err = w.downwardFiles(pod, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
	case v.Projected != nil:
		files, err = w.projectedFiles(ctx, src, pod, v.Projected)
	default:
		return hostVolume{}, errors.New("volume type not supported by the e2e node agent " +
			"(emptyDir, persistentVolumeClaim, hostPath, secret, configMap, downwardAPI and projected are)")
	}
	if err != nil {
		return hostVolume{}, err
	}
	if err := writeVolume(dir, files, fsGroup); err != nil {
		return hostVolume{}, err
	}
	// As with the kubelet, these volumes are read-only whatever the mount says.
	return hostVolume{path: dir, readOnly: true}, nil
}

// hostPathVolume checks or creates a hostPath volume as its type says.
func hostPathVolume(hp *corev1.HostPathVolumeSource) (hostVolume, error) {
	typ := corev1.HostPathUnset
	if hp.Type != nil {
		typ = *hp.Type
	}
	switch typ {
	case corev1.HostPathDirectoryOrCreate:
		if err := os.MkdirAll(hp.Path, 0o755); err != nil {
			return hostVolume{}, err
		}
	case corev1.HostPathFileOrCreate:
		if err := os.MkdirAll(filepath.Dir(hp.Path), 0o755); err != nil {
			return hostVolume{}, err
		}
		f, err := os.OpenFile(hp.Path, os.O_CREATE|os.O_RDONLY, 0o644)
		if err != nil {
			return hostVolume{}, err
		}
		f.Close()
	case corev1.HostPathUnset:
	default:
		if _, err := os.Stat(hp.Path); err != nil {
			return hostVolume{}, fmt.Errorf("hostPath type check failed: %w", err)
		}
	}
	return hostVolume{path: hp.Path}, nil
}

func secretFiles(src *sources, name string, items []corev1.KeyToPath, optional *bool, mode *int32) ([]volumeFile, error) {
	sec, err := src.secret(name)
	if err != nil {
		return nil, err
	}
	opt := optional != nil && *optional
	if sec == nil {
		if opt {
			return nil, nil
		}
		return nil, fmt.Errorf("secret %q not found", name)
	}
	return keyFiles(sec.Data, items, opt, mode, "secret "+name)
}

func configMapFiles(src *sources, name string, items []corev1.KeyToPath, optional *bool, mode *int32) ([]volumeFile, error) {
	cm, err := src.configMap(name)
	if err != nil {
		return nil, err
	}
	opt := optional != nil && *optional
	if cm == nil {
		if opt {
			return nil, nil
		}
		return nil, fmt.Errorf("configmap %q not found", name)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	return keyFiles(data, items, opt, mode, "configmap "+name)
}

// keyFiles maps the keys of a Secret or ConfigMap to files: every key, or the items.
func keyFiles(data map[string][]byte, items []corev1.KeyToPath, optional bool, defaultMode *int32, what string) ([]volumeFile, error) {
	mode := fileMode(defaultMode, nil)
	var files []volumeFile
	if len(items) == 0 {
		for k, v := range data {
			files = append(files, volumeFile{path: k, data: v, mode: mode})
		}
		sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
		return files, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("%s has no key %q", what, it.Key)
		}
		files = append(files, volumeFile{path: it.Path, data: v, mode: fileMode(defaultMode, it.Mode)})
	}
	return files, nil
}

func (w *podWorker) downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defaultMode *int32) ([]volumeFile, error) {
	var files []volumeFile
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = w.podField(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			v, err = w.resourceValue(pod, "", it.ResourceFieldRef)
		}
		if err != nil {
			return nil, err
		}
		files = append(files, volumeFile{path: it.Path, data: []byte(v), mode: fileMode(defaultMode, it.Mode)})
	}
	return files, nil
}

// projectedFiles gathers the sources of a projected volume, among them the
// kube-api-access-* volume the ServiceAccount admission plugin adds to every pod.
func (w *podWorker) projectedFiles(ctx context.Context, src *sources, pod *corev1.Pod, p *corev1.ProjectedVolumeSource) ([]volumeFile, error) {
	var files []volumeFile
	for _, s := range p.Sources {
		var more []volumeFile
		var err error
		switch {
		case s.Secret != nil:
			more, err = secretFiles(src, s.Secret.Name, s.Secret.Items, s.Secret.Optional, p.DefaultMode)
		case s.ConfigMap != nil:
			more, err = configMapFiles(src, s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional, p.DefaultMode)
		case s.DownwardAPI != nil:
			more, err = w.downwardFiles(pod, s.DownwardAPI.Items, p.DefaultMode)
		case s.ServiceAccountToken != nil:
			var token []byte
			token, err = w.serviceAccountToken(ctx, pod, s.ServiceAccountToken)
			more = []volumeFile{{path: s.ServiceAccountToken.Path, data: token, mode: fileMode(p.DefaultMode, nil)}}
		default:
			err = errors.New("projected source not supported by the e2e node agent (secret, configMap, downwardAPI and serviceAccountToken are)")
		}
		if err != nil {
			return nil, err
		}
		files = append(files, more...)
	}
	return files, nil
}

// serviceAccountToken asks the TokenRequest API for a token of the pod's service
// account, bound to the pod. The token never reaches a log or an error.
func (w *podWorker) serviceAccountToken(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) ([]byte, error) {
	expiry := int64(3600)
	if p.ExpirationSeconds != nil {
		expiry = *p.ExpirationSeconds
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &expiry,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if p.Audience != "" {
		req.Spec.Audiences = []string{p.Audience}
	}
	account := pod.Spec.ServiceAccountName
	if account == "" {
		account = defaultServiceAccount
	}
	res, err := w.a.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, account, req, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("request token of service account %s/%s: %w", pod.Namespace, account, err)
	}
	return []byte(res.Status.Token), nil
}

func fileMode(defaultMode, mode *int32) fs.FileMode {
	switch {
	case mode != nil:
		return fs.FileMode(*mode) & fs.ModePerm
	case defaultMode != nil:
		return fs.FileMode(*defaultMode) & fs.ModePerm
	}
	return defaultFileMode
}

// writeVolume writes files into a fresh dir. With an fsGroup, files and folders belong
// to that group, which may read them.
func writeVolume(dir string, files []volumeFile, fsGroup *int64) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := chmodGroup(dir, 0o755, fsGroup); err != nil {
		return err
	}
	for _, f := range files {
		if !filepath.IsLocal(f.path) {
			return fmt.Errorf("file path %q leaves the volume", f.path)
		}
		path := filepath.Join(dir, f.path)
		for d := filepath.Dir(path); len(d) > len(dir); d = filepath.Dir(d) {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			if err := chmodGroup(d, 0o755, fsGroup); err != nil {
				return err
			}
		}
		if err := os.WriteFile(path, f.data, f.mode); err != nil {
			return err
		}
		mode := f.mode
		if fsGroup != nil {
			mode |= 0o040
		}
		if err := chmodGroup(path, mode, fsGroup); err != nil {
			return err
		}
	}
	return nil
}

// chmodGroup sets path's mode (the umask took some), and its group to gid if given;
// a folder gets the set-group-ID bit then, so that new files inherit the group.
func chmodGroup(path string, mode fs.FileMode, gid *int64) error {
	if gid != nil {
		if err := os.Lchown(path, -1, int(*gid)); err != nil {
			return err
		}
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			mode |= fs.ModeSetgid | 0o070
		}
	}
	return os.Chmod(path, mode)
}
