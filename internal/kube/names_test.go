package kube

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestName(t *testing.T) {
	long := strings.Repeat("a", 80)
	tests := []struct {
		parts []string
		want  string
	}{
		{[]string{"rx"}, "ferry-abc123-rx"},
		{[]string{"tx", "Data"}, "ferry-abc123-tx-data"},
	}
	for _, tt := range tests {
		if got := name("abc123", tt.parts...); got != tt.want {
			t.Errorf("name(%v) = %q, want %q", tt.parts, got, tt.want)
		}
	}
	a, b := name("abc123", "tx", long+"1"), name("abc123", "tx", long+"2")
	for _, n := range []string{a, b} {
		if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
			t.Errorf("%q: %v", n, errs)
		}
	}
	if a == b {
		t.Errorf("two long names collide: %q", a)
	}
	for range 100 {
		if id := newID(); !validID.MatchString(id) {
			t.Fatalf("newID() = %q", id)
		}
	}
}
