package dns

import (
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func query(t *testing.T, name string, typ dnsmessage.Type) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET})
	q, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestAnswer(t *testing.T) {
	s := &Server{names: map[string]netip.Addr{}}
	if err := s.Set("*.apps.target.test", "10.250.2.2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("api.target.test", "10.250.2.3"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		typ   dnsmessage.Type
		rcode dnsmessage.RCode
		want  string // "" for no answer
	}{
		{"rx-ns1.apps.target.test.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, "10.250.2.2"},
		{"A.B.APPS.target.test.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, "10.250.2.2"},
		{"api.target.test.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, "10.250.2.3"},
		{"rx.apps.target.test.", dnsmessage.TypeAAAA, dnsmessage.RCodeSuccess, ""},
		{"apps.target.test.", dnsmessage.TypeA, dnsmessage.RCodeNameError, ""},
		{"example.com.", dnsmessage.TypeA, dnsmessage.RCodeNameError, ""},
	}
	for _, tt := range tests {
		reply, err := s.answer(query(t, tt.name, tt.typ))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var m dnsmessage.Message
		if err := m.Unpack(reply); err != nil {
			t.Fatalf("%s: unpack: %v", tt.name, err)
		}
		if m.ID != 7 || !m.Response || m.RCode != tt.rcode {
			t.Errorf("%s: header %+v, want id 7, response, %v", tt.name, m.Header, tt.rcode)
		}
		got := ""
		if len(m.Answers) == 1 {
			got = netip.AddrFrom4(m.Answers[0].Body.(*dnsmessage.AResource).A).String()
		}
		if got != tt.want || len(m.Answers) > 1 {
			t.Errorf("%s: answers %v, want %q", tt.name, m.Answers, tt.want)
		}
	}
	if err := s.Set("x", "::1"); err == nil {
		t.Error("Set accepted an IPv6 address")
	}
}

func FuzzAnswer(f *testing.F) {
	s := &Server{names: map[string]netip.Addr{}}
	s.Set("*.apps.test", "10.0.0.1")
	f.Add([]byte{0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'x', 0, 0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, q []byte) {
		s.answer(q) // must not panic
	})
}
