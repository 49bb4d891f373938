package node

import (
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
)

// ipam hands out the addresses of the pod range, one per pod, in turn: an address set
// free is reused only after the others, so a new pod seldom gets a fresh pod's old IP.
type ipam struct {
	prefix netip.Prefix

	mu   sync.Mutex
	last netip.Addr // the address handed out last
	used map[netip.Addr]bool
}

func newIPAM(cidr string) (*ipam, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
		return nil, fmt.Errorf("pod range %q: want an IPv4 prefix of /30 or wider", cidr)
	}
	p = p.Masked()
	return &ipam{prefix: p, last: p.Addr(), used: map[netip.Addr]bool{}}, nil
}

// allocate returns the next free address after the last one, skipping the range's
// network and broadcast addresses.
func (m *ipam) allocate() (netip.Addr, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	size := 1 << (32 - m.prefix.Bits())
	a := m.last
	for range size {
		a = a.Next()
		if !m.prefix.Contains(a) {
			a = m.prefix.Addr()
		}
		if a == m.prefix.Addr() || !m.prefix.Contains(a.Next()) || m.used[a] {
			continue
		}
		m.used[a], m.last = true, a
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("pod range %s is full", m.prefix)
}

func (m *ipam) release(a netip.Addr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.used, a)
}

// addPodIP puts addr on the namespace's loopback as a /32.
func (a *Agent) addPodIP(addr netip.Addr) error {
	out, err := exec.Command(a.ip, "-n", a.o.Netns.Name, "addr", "add", addr.String()+"/32", "dev", "lo").CombinedOutput()
	if err != nil && !strings.Contains(string(out), "File exists") {
		return fmt.Errorf("add pod address %s in netns %s: %w: %s", addr, a.o.Netns.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// delPodIP removes addr from the namespace's loopback; a namespace already gone is fine.
func (a *Agent) delPodIP(addr netip.Addr) error {
	out, err := exec.Command(a.ip, "-n", a.o.Netns.Name, "addr", "del", addr.String()+"/32", "dev", "lo").CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) && (strings.Contains(string(out), "Cannot assign") || strings.Contains(string(out), "Cannot open network namespace")) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove pod address %s in netns %s: %w: %s", addr, a.o.Netns.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}
