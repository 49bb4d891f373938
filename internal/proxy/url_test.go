package proxy

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		raw     string
		want    Proxy
		wantErr string
	}{
		{raw: "http://proxy.example:3128", want: Proxy{Addr: "proxy.example:3128"}},
		{raw: "http://user:password@10.0.0.1:3128", want: Proxy{Addr: "10.0.0.1:3128", Username: "user", Password: "password", HasPassword: true}},
		{raw: "HTTP://u@h:1", want: Proxy{Addr: "h:1", Username: "u"}},
		{raw: "http://u:@h:1", want: Proxy{Addr: "h:1", Username: "u", HasPassword: true}},
		{raw: "https://h:443", want: Proxy{TLS: true, Addr: "h:443"}},
		{raw: "http://[::1]:3128", want: Proxy{Addr: "[::1]:3128"}},
		{raw: "http://us%40er:p%40ss%3A%2F%25%20w@h:8080/", want: Proxy{Addr: "h:8080", Username: "us@er", Password: "p@ss:/% w", HasPassword: true}},
		{raw: "  http://h:1  ", want: Proxy{Addr: "h:1"}},
		{raw: "http://u:pa:ss@h:1", want: Proxy{Addr: "h:1", Username: "u", Password: "pa:ss", HasPassword: true}},
		{raw: "", wantErr: "empty"},
		{raw: "proxy:3128", wantErr: "no scheme"},
		{raw: "socks5://h:1080", wantErr: `scheme "socks5" is not supported`},
		{raw: "http://h", wantErr: "no port"},
		{raw: "http://:3128", wantErr: "no host"},
		{raw: "http://h:0", wantErr: "out of range"},
		{raw: "http://h:70000", wantErr: "out of range"},
		{raw: "http://h:1/path", wantErr: "no path"},
		{raw: "http://u:s3cr%zzet@h:1", wantErr: "percent-escape"},
		{raw: "http://u%3Ax:p@h:1", wantErr: "cannot contain ':'"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			p, err := Parse(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want it to contain %q", tt.raw, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.raw, err)
			}
			if *p != tt.want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tt.raw, *p, tt.want)
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	for _, raw := range []string{
		"http://user:s3cret@h",        // no port
		"ftp://user:s3cret@h:1",       // bad scheme
		"http://user:s3cret%zz@h:1",   // bad escape
		"http://user:s3cret@h:1/x",    // path
		"http://user:s3cret@@h:99999", // bad port
		"http://user:s3cret@h :1",     // space in host
	} {
		_, err := Parse(raw)
		if err == nil {
			t.Fatalf("Parse(%q) succeeded", raw)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error for %q shows the password: %v", raw, err)
		}
	}
	p, err := Parse("http://user:s3cret@h:1")
	if err != nil {
		t.Fatal(err)
	}
	if s := p.String(); strings.Contains(s, "s3cret") || !strings.Contains(s, "user") {
		t.Errorf("String() = %q", s)
	}
}

func TestRedact(t *testing.T) {
	for raw, want := range map[string]string{
		"http://u:p@h:1":     "http://u:xxxxx@h:1",
		"http://u@h:1":       "http://u@h:1",
		"http://h:1":         "http://h:1",
		"u:p@h:1":            "u:xxxxx@h:1",
		"http://u:p@x@h:1":   "http://u:xxxxx@h:1",
		"http://u:p:q@h:1/z": "http://u:xxxxx@h:1/z",
	} {
		if got := Redact(raw); got != want {
			t.Errorf("Redact(%q) = %q, want %q", raw, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"http://u:p@h:1", "https://[::1]:443", "http://u%20:p%zz@h:1", "http://h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := Parse(raw)
		if err != nil {
			return
		}
		// A parsed proxy prints without its password and parses back to itself.
		if p.Password != "" && len(p.Password) > 3 && strings.Contains(p.String(), p.Password) && !strings.Contains(p.Username+p.Addr+"xxxxx", p.Password) {
			t.Fatalf("String() %q shows the password", p.String())
		}
		if p.HasPassword {
			return // the masked form cannot round-trip
		}
		q, err := Parse(p.String())
		if err != nil {
			t.Fatalf("reparse %q: %v", p.String(), err)
		}
		if *q != *p {
			t.Fatalf("round trip %+v -> %q -> %+v", *p, p.String(), *q)
		}
	})
}
