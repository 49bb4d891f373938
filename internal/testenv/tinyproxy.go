package testenv

import (
	"context"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TinyproxyOptions configures Tinyproxy. The zero value is an open proxy on 127.0.0.1
// that allows CONNECT to every port.
type TinyproxyOptions struct {
	Netns          *Netns // where tinyproxy runs; nil: the test's namespace
	Addr           string // "ip" or "ip:port"; default 127.0.0.1, free port
	User, Password string // Basic auth when User is set: word characters only
}

// tinyproxy's configuration parser takes only these characters in BasicAuth.
var tinyproxyWord = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Tinyproxy runs tinyproxy in the foreground and returns its address.
func Tinyproxy(t testing.TB, o TinyproxyOptions) string {
	t.Helper()
	bin := need1(t, "tinyproxy")
	host, port := listenAddr(t, o.Netns, o.Addr)
	conf := []string{
		"Port " + port,
		"Listen " + host,
		"Timeout 600",
		"MaxClients 100",
		"LogLevel Info",
		"DisableViaHeader Yes",
		// No ConnectPort: CONNECT to every port. No LogFile: logs go to stderr.
	}
	if o.User != "" {
		if !tinyproxyWord.MatchString(o.User) || !tinyproxyWord.MatchString(o.Password) {
			t.Fatalf("tinyproxy: BasicAuth accepts only letters, digits, '.', '-' and '_' in user and password")
		}
		conf = append(conf, "BasicAuth "+o.User+" "+o.Password)
	}
	dir := peerDir(t, "tinyproxy")
	writeFile(t, dir+"/tinyproxy.conf", strings.Join(conf, "\n")+"\n")
	p := startPeer(t, "tinyproxy", dir, o.Netns.Command(context.Background(), bin, "-d", "-c", dir+"/tinyproxy.conf"))
	addr := net.JoinHostPort(host, port)
	p.waitListening(t, o.Netns, addr, 30*time.Second)
	return addr
}
