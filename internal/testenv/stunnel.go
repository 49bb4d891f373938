package testenv

import (
	"context"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Stunnel runs stunnel with config, the service sections (e.g. "[svc]\nclient = yes\n
// accept = ...\nconnect = ..."); Stunnel adds the global part. It waits until every
// accept address listens: give them as ip:port (a bare port is waited for on 127.0.0.1).
func Stunnel(t testing.TB, ns *Netns, config string) {
	t.Helper()
	bin := Need(t, "stunnel")["stunnel"]
	dir := peerDir(t, "stunnel")
	global := strings.Join([]string{
		"foreground = yes",
		"pid =",
		"syslog = no",
		"debug = info",
		"output = " + dir + "/stunnel.log",
	}, "\n")
	writeFile(t, dir+"/stunnel.conf", global+"\n\n"+config+"\n")
	p := startPeer(t, "stunnel", dir, ns.Command(context.Background(), bin, dir+"/stunnel.conf"),
		dir+"/stunnel.log")
	for _, a := range acceptAddrs(config) {
		p.waitListening(t, ns, a, 30*time.Second)
	}
}

var acceptLine = regexp.MustCompile(`(?mi)^\s*accept\s*=\s*(\S+)\s*$`)

func acceptAddrs(config string) []string {
	var addrs []string
	for _, m := range acceptLine.FindAllStringSubmatch(config, -1) {
		a := m[1]
		if !strings.Contains(a, ":") {
			a = net.JoinHostPort("127.0.0.1", a)
		}
		addrs = append(addrs, a)
	}
	return addrs
}
