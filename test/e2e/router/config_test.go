package router

import (
	"strings"
	"testing"
)

func TestConfig(t *testing.T) {
	got := Config("10.250.2.2:443", "/run/x", []Backend{
		{Host: "rx-b.apps.test", Servers: []string{"10.244.2.3:2222", "10.244.2.4:2222"}, Source: "route b/rx"},
		{Host: "rx-a.apps.test", Source: "ingress a/rx"},
	})
	for _, want := range []string{
		"bind 10.250.2.2:443",
		"pidfile /run/x/haproxy.pid",
		"tcp-request content accept if { req_ssl_hello_type 1 }",
		"use_backend be0 if { req_ssl_sni -i rx-a.apps.test }",
		"use_backend be1 if { req_ssl_sni -i rx-b.apps.test }",
		"# route b/rx\nbackend be1\n    server pod0 10.244.2.3:2222\n    server pod1 10.244.2.4:2222\n",
		"# ingress a/rx\nbackend be0\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("config lacks %q:\n%s", want, got)
		}
	}
}
