// Package dns answers name lookups inside a test network namespace, as a cluster's DNS
// does for its wildcard application domain (*.apps.<cluster>): squid, mitmproxy and the
// pods resolve route hosts through it. It serves A records over UDP from a table of exact
// names and wildcards, answers NXDOMAIN for other names, and knows nothing else.
package dns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/ferrydvm/ferry/internal/testenv"
)

// Server is a DNS server for a table of names, running until the test ends.
type Server struct {
	conn  net.PacketConn
	mu    sync.Mutex
	names map[string]netip.Addr // lower case, with the final dot; "*.zone." for wildcards
}

// Start serves DNS on addr ("127.0.0.1:53") inside ns until the test's cleanup.
func Start(tb testing.TB, ns *testenv.Netns, addr string) *Server {
	tb.Helper()
	conn, err := ns.ListenPacket("udp", addr)
	if err != nil {
		tb.Fatalf("dns: listen on %s: %v", addr, err)
	}
	s := &Server{conn: conn, names: map[string]netip.Addr{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.serve()
	}()
	tb.Cleanup(func() {
		conn.Close()
		<-done
	})
	return s
}

// Set makes name resolve to ip. A name "*.zone" answers for every name under zone.
func (s *Server) Set(name, ip string) error {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is4() {
		return fmt.Errorf("dns: %s: want an IPv4 address, got %q", name, ip)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names[canonical(name)] = a
	return nil
}

func canonical(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, ".")) + "."
}

// lookup finds name exactly, then the closest wildcard above it.
func (s *Server) lookup(name string) (netip.Addr, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = canonical(name)
	if a, ok := s.names[name]; ok {
		return a, true
	}
	for rest := name; ; {
		_, after, ok := strings.Cut(rest, ".")
		if !ok || after == "" {
			return netip.Addr{}, false
		}
		if a, ok := s.names["*."+after]; ok {
			return a, true
		}
		rest = after
	}
}

func (s *Server) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if reply, err := s.answer(buf[:n]); err == nil {
			s.conn.WriteTo(reply, from)
		}
	}
}

// answer builds the reply to one query: the A record, an empty answer for other types of
// a known name, NXDOMAIN for unknown names.
func (s *Server) answer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	a, known := s.lookup(q.Name.String())
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if known && q.Type == dnsmessage.TypeA && q.Class == dnsmessage.ClassINET {
		if err := b.StartAnswers(); err != nil {
			return nil, err
		}
		rr := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 5}
		if err := b.AResource(rr, dnsmessage.AResource{A: a.As4()}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}
