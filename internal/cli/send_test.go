package cli

import (
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferrydvm/ferry/internal/testenv"
)

// When send cannot open its first connection, the error is the probe's diagnosis of the
// path (the check, its detail and hint), not a raw socket or TLS error; only failures
// that may heal are retried, logged as "cannot connect", never as a lost connection.

// sendLab is a ferry receiver on 127.0.0.1 and a source tree.
type sendLab struct {
	certs, src, addr string
}

func newSendLab(t *testing.T) *sendLab {
	t.Helper()
	certs := filepath.Join(t.TempDir(), "certs")
	if _, errs, code := run("certs", "generate", "--out", certs); code != 0 {
		t.Fatalf("certs generate: %s", errs)
	}
	src, dst := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("data"), 0o640); err != nil {
		t.Fatal(err)
	}
	gs, _, _ := globals()
	addr := background(t, func(ctx context.Context, ready chan<- string) error {
		return runServe(ctx, &ServeOptions{Listen: "127.0.0.1:0", Certs: certs, Volumes: []string{"v=" + dst}, Grace: time.Second, Ready: ready}, gs)
	})
	return &sendLab{certs: certs, src: src, addr: addr}
}

// send runs `ferry send` in-process and returns its error, its log and how long it took.
func (l *sendLab) send(t *testing.T, addr string, retries int, wait time.Duration, proxies ...string) (error, string, time.Duration) {
	t.Helper()
	g, _, errs := globals()
	o := &SendOptions{Certs: l.certs, ServerName: "localhost", Proxies: proxies, Retries: retries, RetryWait: wait, Progress: "none", Workers: 1, Streams: 1}
	start := time.Now()
	err := runSend(context.Background(), o, g, []string{l.src, addr + "/v"})
	return err, errs.String(), time.Since(start)
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// mustSay checks that s contains every want.
func mustSay(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, s)
		}
	}
}

// mustNotSay checks that s contains none of bad.
func mustNotSay(t *testing.T, what, s string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(s, b) {
			t.Errorf("%s says %q:\n%s", what, b, s)
		}
	}
}

func TestSendFirstConnectionNothingListens(t *testing.T) {
	l := newSendLab(t)
	dead := closedPort(t)
	err, logs, _ := l.send(t, dead, 2, 10*time.Millisecond)
	if err == nil {
		t.Fatal("send to a closed port succeeded")
	}
	mustSay(t, "the error", err.Error(), "cannot connect to "+dead+" (3 attempts)", "proxy-tcp: cannot reach the receiver at "+dead, "(nothing listens at that address and port)")
	// Refused may heal (the receiver may be starting): retried, and said so.
	mustSay(t, "the log", logs, `msg="cannot connect" attempt=1/3`, `attempt=2/3`, "diagnosis=\"proxy-tcp:")
	mustNotSay(t, "the log", logs, "connection lost", "resuming", "attempt=3/3")
}

// squid with Basic auth: a wrong password is the 407 diagnosis at once, never retried;
// the right one copies.
func TestSendFirstConnectionSquid(t *testing.T) {
	l := newSendLab(t)
	sq := testenv.Squid(t, testenv.SquidOptions{Users: map[string]string{"mig": "top s3cret:@/"}})
	const wait = 3 * time.Second
	wrong := "http://" + url.UserPassword("mig", "wr0ng-pw").String() + "@" + sq
	err, logs, took := l.send(t, l.addr, 5, wait, wrong)
	if err == nil {
		t.Fatal("send with a wrong proxy password succeeded")
	}
	mustSay(t, "the error", err.Error(), "cannot connect to "+l.addr+":", "proxy-auth: proxy http://mig:xxxxx@"+sq, "(407)", "refused these credentials")
	mustNotSay(t, "the error and log", err.Error()+logs, "cannot connect\"", "resuming", "wr0ng-pw", "attempts")
	if took >= wait {
		t.Errorf("a 407 was retried: send took %v", took)
	}

	right := "http://" + url.UserPassword("mig", "top s3cret:@/").String() + "@" + sq
	if err, logs, _ := l.send(t, l.addr, 0, wait, right); err != nil {
		t.Fatalf("send through squid with the right password: %v\n%s", err, logs)
	}
}

// mitmproxy: interception is named (its CA), not retried.
func TestSendFirstConnectionMitmproxy(t *testing.T) {
	l := newSendLab(t)
	mitm, _ := testenv.Mitmproxy(t, nil, "127.0.0.1")
	err, logs, took := l.send(t, l.addr, 5, 3*time.Second, "http://"+mitm)
	if err == nil {
		t.Fatal("send through mitmproxy succeeded")
	}
	mustSay(t, "the error", err.Error(), "tls-end-to-end:", "was intercepted", `issuer "CN=mitmproxy,O=mitmproxy"`, "relays CONNECT tunnels unchanged")
	mustNotSay(t, "the log", logs, "cannot connect", "resuming")
	if took >= 3*time.Second {
		t.Errorf("interception was retried: send took %v", took)
	}
}

// ferry tunnel client: its first failed connection is logged with the probe's diagnosis.
func TestTunnelClientFirstConnectionDiagnosed(t *testing.T) {
	certs := filepath.Join(t.TempDir(), "certs")
	run("certs", "generate", "--out", certs)
	sq := testenv.Squid(t, testenv.SquidOptions{Users: map[string]string{"mig": "top s3cret"}})
	tests := []struct {
		name    string
		connect string
		proxies []string
		want    []string
	}{
		{"nothing listens", closedPort(t), nil, []string{"proxy-tcp: cannot reach the receiver", "nothing listens"}},
		{"wrong proxy password", "127.0.0.1:9", []string{"http://mig:wr0ng-pw@" + sq},
			[]string{"proxy-auth: proxy http://mig:xxxxx@" + sq, "(407)", "refused these credentials"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _, logs := globals()
			client := background(t, func(ctx context.Context, ready chan<- string) error {
				return runTunnelClient(ctx, &TunnelOptions{Listen: "127.0.0.1:0", Connect: tt.connect, Certs: certs, ServerName: "localhost",
					Proxies: tt.proxies, Grace: time.Second, Ready: ready}, g)
			})
			c, err := net.Dial("tcp", client)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(20 * time.Second))
			io.Copy(io.Discard, c) // the client closes it when the path fails
			c.Close()
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(logs.String(), "connection failed") && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			mustSay(t, "the log", logs.String(), append([]string{"connection failed"}, tt.want...)...)
			mustNotSay(t, "the log", logs.String(), "wr0ng-pw", "s3cret")
		})
	}
}
