// Package pki makes and loads the certificates of one migration: a CA created for it, a
// server certificate for the receiver (every name it is reached by as a SAN) and a client
// certificate for the sender. Both sides trust only this CA, so TLS between them is mutual
// and end to end, whatever proxies sit in between. Keys are ECDSA P-256, which stunnel 5
// and every TLS 1.3 stack accept; files are PEM, keys written 0600.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names inside a certificate directory.
const (
	CACert     = "ca.crt"
	CAKey      = "ca.key"
	ServerCert = "server.crt"
	ServerKey  = "server.key"
	ClientCert = "client.crt"
	ClientKey  = "client.key"
)

// Options for Generate. Zero values mean defaults.
type Options struct {
	// ServerNames become the server certificate's SANs (DNS names, or IP addresses for IP
	// literals). Default: localhost and 127.0.0.1.
	ServerNames []string
	// Days of validity. Default 30.
	Days int
	// Now is the start of validity; default time.Now.
	Now time.Time
}

func (o *Options) defaults() {
	if len(o.ServerNames) == 0 {
		o.ServerNames = []string{"localhost", "127.0.0.1"}
	}
	if o.Days <= 0 {
		o.Days = 30
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
}

// Set is a generated CA with its two leaf certificates, PEM encoded.
type Set struct {
	Files map[string][]byte // by file name (CACert, CAKey, ...)
}

// Generate creates a new CA and signs a server and a client certificate with it.
func Generate(o Options) (*Set, error) {
	o.defaults()
	notBefore := o.Now.Add(-5 * time.Minute) // tolerate clock skew between clusters
	notAfter := o.Now.AddDate(0, 0, o.Days)
	caKey, caDER, err := makeCA(notBefore, notAfter)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("parse new CA: %w", err)
	}
	set := &Set{Files: map[string][]byte{CACert: pemCert(caDER)}}
	if set.Files[CAKey], err = pemKey(caKey); err != nil {
		return nil, err
	}
	server := leafTemplate("ferry receiver", notBefore, notAfter, x509.ExtKeyUsageServerAuth)
	for _, n := range o.ServerNames {
		if ip := net.ParseIP(n); ip != nil {
			server.IPAddresses = append(server.IPAddresses, ip)
		} else {
			server.DNSNames = append(server.DNSNames, n)
		}
	}
	client := leafTemplate("ferry sender", notBefore, notAfter, x509.ExtKeyUsageClientAuth)
	if err := set.addLeaf(ServerCert, ServerKey, server, ca, caKey); err != nil {
		return nil, err
	}
	if err := set.addLeaf(ClientCert, ClientKey, client, ca, caKey); err != nil {
		return nil, err
	}
	return set, nil
}

func makeCA(notBefore, notAfter time.Time) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "ferry migration CA", Organization: []string{"ferry"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign CA certificate: %w", err)
	}
	return key, der, nil
}

func leafTemplate(cn string, notBefore, notAfter time.Time, usage x509.ExtKeyUsage) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"ferry"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
}

func (s *Set) addLeaf(certName, keyName string, tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate key for %s: %w", certName, err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("sign %s: %w", certName, err)
	}
	s.Files[certName] = pemCert(der)
	s.Files[keyName], err = pemKey(key)
	return err
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return n
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pemKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Write stores the set in dir (created 0700 if missing). Keys are 0600, certificates 0644.
// Existing files are not overwritten unless force is set.
func (s *Set) Write(dir string, force bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create certificate directory: %w", err)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	for _, name := range []string{CACert, CAKey, ServerCert, ServerKey, ClientCert, ClientKey} {
		mode := os.FileMode(0o644)
		if filepath.Ext(name) == ".key" {
			mode = 0o600
		}
		if err := writeFile(filepath.Join(dir, name), s.Files[name], flags, mode); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, data []byte, flags int, mode os.FileMode) error {
	f, err := os.OpenFile(path, flags, mode)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("write %s: it exists already (use --force to replace the certificates)", path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// Bundle is what one side of a connection needs: the CA to verify the peer and its own
// certificate to present.
type Bundle struct {
	CA     *x509.Certificate
	Roots  *x509.CertPool
	Leaf   tls.Certificate
	CAFile string // path of the CA certificate, for messages
}

// Role selects which leaf Load takes.
type Role int

const (
	Server Role = iota
	Client
)

// Load reads the CA and the leaf of role from dir.
func Load(dir string, role Role) (*Bundle, error) {
	caPEM, err := os.ReadFile(filepath.Join(dir, CACert))
	if err != nil {
		return nil, fmt.Errorf("read migration CA: %w", err)
	}
	block, _ := pem.Decode(caPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("read migration CA %s: no PEM certificate in it", filepath.Join(dir, CACert))
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse migration CA %s: %w", filepath.Join(dir, CACert), err)
	}
	certName, keyName := ServerCert, ServerKey
	if role == Client {
		certName, keyName = ClientCert, ClientKey
	}
	leaf, err := tls.LoadX509KeyPair(filepath.Join(dir, certName), filepath.Join(dir, keyName))
	if err != nil {
		return nil, fmt.Errorf("load %s and %s from %s: %w", certName, keyName, dir, err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return &Bundle{CA: ca, Roots: roots, Leaf: leaf, CAFile: filepath.Join(dir, CACert)}, nil
}
