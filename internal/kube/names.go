package kube

import (
	"crypto/rand"
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"
)

// Labels on every object a migration creates: cleanup finds them by these.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelMigration = "ferry.dev/migration"
	LabelRole      = "ferry.dev/role" // receiver, sender, probe
	managedBy      = "ferry"
)

// Ports and paths inside ferry's pods.
const (
	receiverPort = 2222
	certsDir     = "/var/run/ferry/certs"
	volumesDir   = "/var/run/ferry/volumes"
)

var validID = regexp.MustCompile(`^[a-z0-9]{1,12}$`)

// newID returns a random migration ID of 6 letters and digits.
func newID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 6)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// labels are the labels of one object of migration id in the given role.
func labels(id, role string) map[string]string {
	return map[string]string{LabelManagedBy: managedBy, LabelMigration: id, LabelRole: role}
}

// name builds an object name "ferry-<id>-<parts>" that is a valid DNS label (63
// characters): long parts are shortened and suffixed with a hash, so names stay unique.
func name(id string, parts ...string) string {
	n := strings.Join(append([]string{"ferry", id}, parts...), "-")
	n = strings.ToLower(n)
	if len(n) <= 63 {
		return n
	}
	h := fnv.New32a()
	h.Write([]byte(n))
	return fmt.Sprintf("%s-%08x", strings.TrimRight(n[:54], "-."), h.Sum32())
}

// selector is the label selector of every object of migration id.
func selector(id string) string {
	return LabelMigration + "=" + id
}
