package testenv

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// RsyncDaemon serves dir as module "mnt" (read-write, as root, no chroot) and returns the
// daemon's address. addr is "ip" or "ip:port" (default 127.0.0.1, free port).
func RsyncDaemon(t testing.TB, ns *Netns, addr, dir string) string {
	t.Helper()
	bin := need1(t, "rsync")
	host, port := listenAddr(t, ns, addr)
	pdir := peerDir(t, "rsyncd")
	writeFile(t, pdir+"/rsyncd.conf", strings.Join([]string{
		"port = " + port,
		"address = " + host,
		"use chroot = no",
		"reverse lookup = no", // no DNS query for each client
		"pid file = " + pdir + "/rsyncd.pid",
		"log file = " + pdir + "/rsyncd.log",
		"[mnt]",
		"path = " + dir,
		"read only = false",
		"uid = root",
		"gid = root",
	}, "\n")+"\n")
	p := startPeer(t, "rsyncd", pdir, ns.Command(context.Background(), bin,
		"--daemon", "--no-detach", "--config="+pdir+"/rsyncd.conf"), pdir+"/rsyncd.log")
	addr = net.JoinHostPort(host, port)
	p.waitListening(t, ns, addr, 30*time.Second)
	return addr
}
