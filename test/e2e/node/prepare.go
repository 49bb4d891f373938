package node

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"
)

// prepare resolves everything a run of c needs: binary, environment, command line,
// mounts and user. Its errors are the container's waiting reason (configError).
func (w *podWorker) prepare(c *container) (*launch, error) {
	pod := w.latest()
	binary, err := w.a.imageBinary(c.spec.Image)
	if err != nil {
		return nil, err
	}
	spec, err := securityIDs(pod, &c.spec)
	if err != nil {
		return nil, err
	}
	uid := int64(0)
	if spec.UID != nil {
		uid = *spec.UID
	}
	env, err := w.containerEnv(w.newSources(w.a.ctx), pod, &c.spec, uid)
	if err != nil {
		return nil, err
	}
	spec.Mounts, err = w.mounts(c, env)
	if err != nil {
		return nil, err
	}
	spec.Dir = c.spec.WorkingDir
	spec.Hostname = podHostname(pod)

	w.mu.Lock()
	restarts := c.restarts
	w.mu.Unlock()
	run := &launch{
		argv:    commandLine(&c.spec, binary, env),
		env:     envList(env),
		spec:    spec,
		logPath: w.logPathFor(c),
		imageID: "ferry://" + binary,
	}
	id := sha256.Sum256([]byte(string(w.uid) + "/" + c.spec.Name + "/" + strconv.Itoa(int(restarts))))
	run.containerID = "ferry://" + hex.EncodeToString(id[:])

	// A fresh termination-message file per run, writable by any user.
	dir := filepath.Join(w.dir, "termination")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create termination-message folder: %w", err)
	}
	run.terminationFile = filepath.Join(dir, c.spec.Name)
	if err := os.WriteFile(run.terminationFile, nil, 0o666); err != nil {
		return nil, fmt.Errorf("create termination-message file: %w", err)
	}
	if err := os.Chmod(run.terminationFile, 0o666); err != nil {
		return nil, fmt.Errorf("create termination-message file: %w", err)
	}
	target := c.spec.TerminationMessagePath
	if target == "" {
		target = corev1.TerminationMessagePathDefault
	}
	run.spec.Mounts = append(run.spec.Mounts, execMount{Source: run.terminationFile, Target: target})
	return run, nil
}

// securityIDs returns the user and groups of a container: the container's
// securityContext over the pod's; root when neither says.
func securityIDs(pod *corev1.Pod, c *corev1.Container) (execSpec, error) {
	var spec execSpec
	nonRoot := false
	if psc := pod.Spec.SecurityContext; psc != nil {
		spec.UID, spec.GID = psc.RunAsUser, psc.RunAsGroup
		spec.Groups = append(spec.Groups, psc.SupplementalGroups...)
		if psc.FSGroup != nil {
			spec.Groups = append(spec.Groups, *psc.FSGroup)
		}
		nonRoot = psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	}
	if csc := c.SecurityContext; csc != nil {
		if csc.RunAsUser != nil {
			spec.UID = csc.RunAsUser
		}
		if csc.RunAsGroup != nil {
			spec.GID = csc.RunAsGroup
		}
		if csc.RunAsNonRoot != nil {
			nonRoot = *csc.RunAsNonRoot
		}
	}
	if nonRoot && (spec.UID == nil || *spec.UID == 0) {
		// Images have no USER here: they run as root unless runAsUser says otherwise.
		return spec, &configError{reason: "CreateContainerConfigError",
			err: errors.New("container has runAsNonRoot and image will run as root (set runAsUser)")}
	}
	return spec, nil
}

// mounts lists the bind mounts of c's volumeMounts.
func (w *podWorker) mounts(c *container, env map[string]string) ([]execMount, error) {
	w.mu.Lock()
	volumes := w.volumes
	w.mu.Unlock()
	var mounts []execMount
	for _, m := range c.spec.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			return nil, &configError{reason: "CreateContainerConfigError", err: fmt.Errorf("volume %q not found in the pod", m.Name)}
		}
		src := v.path
		sub := m.SubPath
		if m.SubPathExpr != "" {
			sub = expansion.Expand(m.SubPathExpr, expansion.MappingFuncFor(env))
		}
		if sub != "" {
			src = filepath.Join(v.path, sub)
			if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
				if err := os.MkdirAll(src, 0o755); err != nil {
					return nil, fmt.Errorf("create subPath %s of volume %s: %w", sub, m.Name, err)
				}
			}
		}
		mounts = append(mounts, execMount{Source: src, Target: m.MountPath, ReadOnly: m.ReadOnly || v.readOnly})
	}
	return mounts, nil
}
