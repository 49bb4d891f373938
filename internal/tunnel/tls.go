// Package tunnel owns ferry's TLS policy and the stunnel-style forwarders.
//
// Every *tls.Config in ferry comes from here: TLS 1.3 only, mutual authentication against
// the migration CA (internal/pki), no insecure mode. Dial reaches a receiver through a chain
// of CONNECT proxies (internal/proxy) and turns a certificate that does not lead to the
// migration CA into an *InterceptedError naming who forged it. Server and Client are the two
// stunnel roles: TLS in and plain TCP out, plain TCP in and TLS out.
package tunnel

import (
	"crypto/tls"

	"github.com/ferrydvm/ferry/internal/pki"
)

// ServerConfig is the receiving side's policy: present the server certificate, require a
// client certificate signed by the migration CA. No session tickets: every connection
// authenticates in full, and after the handshake only application data flows.
func ServerConfig(b *pki.Bundle) *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{b.Leaf},
		ClientAuth:             tls.RequireAndVerifyClientCert,
		ClientCAs:              b.Roots,
		SessionTicketsDisabled: true,
	}
}

// ClientConfig is the sending side's policy: verify that the server's certificate is signed
// by the migration CA and carries serverName, and present the client certificate.
func ClientConfig(b *pki.Bundle, serverName string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{b.Leaf},
		RootCAs:      b.Roots,
		ServerName:   serverName,
	}
}

// ProxyConfig is the policy for TLS to an https:// proxy itself: the system's roots and the
// proxy's host name, TLS 1.2 or newer.
func ProxyConfig(serverName string) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
}
