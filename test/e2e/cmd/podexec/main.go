// Command podexec starts one container process for the end-to-end node agent
// (test/e2e/node). The agent runs it as
//
//	ip netns exec <netns> podexec -spec '<json>' -- <program> <args...>
//
// so it starts in the cluster's network namespace and in a mount namespace of its own
// (ip netns exec makes one, with propagation to the host turned off). podexec then
//
//  1. bind-mounts each volume at its container path, parents first, creating the mount
//     point when it is missing (a directory, or an empty file for a file), and remounts
//     read-only mounts read-only;
//  2. sets the host name in a UTS namespace of its own and changes to the working folder;
//  3. switches to the user and groups asked for (setgroups, setresgid, setresuid, in that
//     order), keeping the parent-death signal the agent set;
//  4. execs the program, looked up in the PATH of the environment it was given.
//
// The environment passes through unchanged. When podexec itself fails it prints
// "podexec: <what failed>" on stderr and exits with status 128, which the agent reports
// as a StartError.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Spec is what the agent asks for; its JSON form is the -spec flag. The agent has the
// same type (test/e2e/node, launcher.go): keep the two in step.
type Spec struct {
	Mounts   []Mount `json:"mounts,omitempty"`
	Dir      string  `json:"dir,omitempty"`      // working folder; default "/"
	Hostname string  `json:"hostname,omitempty"` // default: the host's
	UID      *int64  `json:"uid,omitempty"`      // default: stay root
	GID      *int64  `json:"gid,omitempty"`      // default 0 when UID is set
	Groups   []int64 `json:"groups,omitempty"`   // supplementary groups
}

// Mount is one bind mount.
type Mount struct {
	Source   string `json:"source"` // host path, a folder or a file
	Target   string `json:"target"` // absolute path as the program sees it
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// startErrorCode is the exit status of a failed start, as runc uses it.
const startErrorCode = 128

// init keeps main on the main thread: unshare(CLONE_NEWUTS) changes only the calling
// thread, and exec keeps the namespaces of the thread that calls it.
func init() { runtime.LockOSThread() }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "podexec: %v\n", err)
		os.Exit(startErrorCode)
	}
}

func run(args []string) error {
	fl := flag.NewFlagSet("podexec", flag.ContinueOnError)
	specJSON := fl.String("spec", "{}", "what to set up, as JSON")
	if err := fl.Parse(args); err != nil {
		return err
	}
	argv := fl.Args()
	if len(argv) == 0 {
		return errors.New("usage: podexec -spec JSON -- PROGRAM [ARGS...]")
	}
	var spec Spec
	if err := json.Unmarshal([]byte(*specJSON), &spec); err != nil {
		return fmt.Errorf("parse -spec: %w", err)
	}
	ppid := os.Getppid()

	if err := mountAll(spec.Mounts); err != nil {
		return err
	}
	if spec.Hostname != "" {
		if err := unix.Unshare(unix.CLONE_NEWUTS); err != nil {
			return fmt.Errorf("new UTS namespace: %w", err)
		}
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("set host name %q: %w", spec.Hostname, err)
		}
	}
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create working folder: %w", err)
	}
	if err := os.Chdir(dir); err != nil {
		return fmt.Errorf("change to working folder: %w", err)
	}

	path, err := lookPath(argv[0])
	if err != nil {
		return err
	}
	// Opened while still root: a user switched to may not be allowed to walk to the
	// program (the agent's files live in 0700 temporary folders).
	prog, openErr := os.Open(path)
	if err := switchUser(spec, ppid); err != nil {
		return err
	}
	env := os.Environ()
	err = syscall.Exec(path, argv, env)
	if errors.Is(err, syscall.EACCES) && openErr == nil {
		// The kernel follows /proc/self/fd links without checking the folders on
		// the way; the fd's close-on-exec flag only matters to scripts.
		err = syscall.Exec("/proc/self/fd/"+strconv.Itoa(int(prog.Fd())), argv, env)
	}
	return fmt.Errorf("exec %s: %w", path, err)
}

// lookPath finds the program in the PATH of the environment podexec was given, which is
// the container's.
func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("exec: %q: executable file not found in $PATH", name)
	}
	return filepath.Abs(path)
}

// mountAll bind-mounts the volumes, shallower targets first so that a mount inside
// another volume's path lands on top of it.
func mountAll(mounts []Mount) error {
	mounts = slices.Clone(mounts)
	slices.SortStableFunc(mounts, func(a, b Mount) int {
		return strings.Count(filepath.Clean(a.Target), "/") - strings.Count(filepath.Clean(b.Target), "/")
	})
	for _, m := range mounts {
		if err := bindMount(m); err != nil {
			return fmt.Errorf("mount %s at %s: %w", m.Source, m.Target, err)
		}
	}
	return nil
}

func bindMount(m Mount) error {
	if !filepath.IsAbs(m.Target) {
		return errors.New("target is not an absolute path")
	}
	fi, err := os.Stat(m.Source)
	if err != nil {
		return err
	}
	if err := makeMountPoint(m.Target, fi.IsDir()); err != nil {
		return err
	}
	if err := unix.Mount(m.Source, m.Target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	if m.ReadOnly {
		// A bind mount takes the read-only flag only on a remount.
		flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
		if err := unix.Mount("", m.Target, "", flags, ""); err != nil {
			return fmt.Errorf("remount read-only: %w", err)
		}
	}
	return nil
}

// makeMountPoint creates target as a folder, or as an empty file for a file mount, when
// it does not exist. It is created on the host's file system: the mount namespace is
// new, the files are shared.
func makeMountPoint(target string, dir bool) error {
	if dir {
		return os.MkdirAll(target, 0o755)
	}
	if _, err := os.Stat(target); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// switchUser drops to the spec's user and groups. Changing credentials clears the
// parent-death signal; it is set again, and podexec gives up if the agent has gone in
// the meantime.
func switchUser(spec Spec, ppid int) error {
	if spec.UID == nil && spec.GID == nil {
		return nil
	}
	uid, gid := int64(0), int64(0)
	if spec.UID != nil {
		uid = *spec.UID
	}
	if spec.GID != nil {
		gid = *spec.GID
	}
	groups := []int{int(gid)}
	for _, g := range spec.Groups {
		if !slices.Contains(groups, int(g)) {
			groups = append(groups, int(g))
		}
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("set groups: %w", err)
	}
	if err := syscall.Setresgid(int(gid), int(gid), int(gid)); err != nil {
		return fmt.Errorf("set group %d: %w", gid, err)
	}
	if err := syscall.Setresuid(int(uid), int(uid), int(uid)); err != nil {
		return fmt.Errorf("set user %d: %w", uid, err)
	}
	// Dumpable again, so /proc/self belongs to the new user (the fallback exec above
	// goes through /proc/self/fd).
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set dumpable: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("set parent-death signal: %w", err)
	}
	if os.Getppid() != ppid {
		return errors.New("the node agent has exited")
	}
	return nil
}
