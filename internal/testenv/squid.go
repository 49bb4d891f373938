package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// SquidOptions configures Squid. The zero value is an open proxy on 127.0.0.1.
type SquidOptions struct {
	Netns        *Netns            // where squid runs; nil: the test's namespace
	Addr         string            // "ip" or "ip:port" to listen on; default 127.0.0.1, free port
	Users        map[string]string // Basic auth users and passwords (any characters); nil: no auth
	OnlySSLPorts bool              // the stock rule: CONNECT only to port 443, 403 otherwise
}

var squidSeq atomic.Int64

// Squid runs squid as a forward proxy that answers CONNECT and returns its address.
func Squid(t testing.TB, o SquidOptions) string {
	t.Helper()
	Root(t)
	bin := Need(t, "squid", "htpasswd")
	const authHelper = "/usr/lib/squid/basic_ncsa_auth"
	if _, err := os.Stat(authHelper); err != nil {
		skipOrFail(t, "squid's %s: %v", authHelper, err)
	}
	host, port := listenAddr(t, o.Netns, o.Addr)
	addr := net.JoinHostPort(host, port)

	// squid switches to user proxy and t.TempDir() is 0700 root: give it its own directory.
	sweepStale(t)
	dir, err := os.MkdirTemp("", fmt.Sprintf("fy%d-squid-", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ssl := "1-65535"
	if o.OnlySSLPorts {
		ssl = "443"
	}
	conf := []string{
		"http_port " + addr,
		"pid_filename " + dir + "/squid.pid",
		"cache deny all",
		"access_log stdio:" + dir + "/access.log",
		"cache_log " + dir + "/cache.log",
		"cache_store_log none",
		"netdb_filename none",
		"pinger_enable off",
		"visible_hostname localhost",
		"dns_nameservers 127.0.0.1", // never ask the machine's resolver
		"shutdown_lifetime 1 seconds",
		"acl SSL_ports port " + ssl,
		"acl CONNECT method CONNECT",
		"http_access deny CONNECT !SSL_ports",
	}
	if o.Users == nil {
		conf = append(conf, "http_access allow all")
	} else {
		writePasswords(t, bin["htpasswd"], dir+"/passwd", o.Users)
		conf = append(conf,
			"auth_param basic program "+authHelper+" "+dir+"/passwd",
			"auth_param basic realm ferry-test",
			"acl authed proxy_auth REQUIRED",
			"http_access allow authed",
			"http_access deny all")
	}
	writeFile(t, dir+"/squid.conf", strings.Join(conf, "\n")+"\n")
	chownProxy(t, dir)

	// The service name keys squid's /dev/shm segments: one per instance.
	service := fmt.Sprintf("fy%dsq%d", os.Getpid(), squidSeq.Add(1))
	cmd := o.Netns.Command(context.Background(), bin["squid"], "-f", dir+"/squid.conf", "-N", "-n", service)
	p := startPeer(t, "squid", dir, cmd, dir+"/cache.log", dir+"/access.log")
	p.waitListening(t, o.Netns, addr, 30*time.Second)
	return addr
}

func writePasswords(t testing.TB, htpasswd, path string, users map[string]string) {
	t.Helper()
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	for i, u := range names {
		args := []string{"-i", path, u} // -i: the password comes on stdin, not argv
		if i == 0 {
			args = append([]string{"-c"}, args...)
		}
		cmd := exec.Command(htpasswd, args...)
		cmd.Stdin = strings.NewReader(users[u])
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("htpasswd for user %q: %v: %s", u, err, out)
		}
	}
	if len(names) == 0 {
		writeFile(t, path, "")
	}
}

func chownProxy(t testing.TB, dir string) {
	t.Helper()
	u, err := user.Lookup("proxy")
	if err != nil {
		skipOrFail(t, "squid needs user proxy: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	err = filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(path, uid, gid)
	})
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		t.Fatalf("squid directory: %v", err)
	}
}
