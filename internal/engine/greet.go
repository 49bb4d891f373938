package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/ferrydvm/ferry/internal/wire"
)

// errProbe ends a session that only came to see who answers.
var errProbe = errors.New("probe")

// Greet tells what answers at the far end of an open connection: a ferry receiver (with
// its version), or an rsync daemon behind a tunnel server. A receiver that refuses our
// client certificate (an error wrapping ErrCertificateRefused), or another protocol
// version, is an error.
func Greet(ctx context.Context, conn net.Conn, version string) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	defer conn.SetDeadline(time.Time{})
	w := wire.NewWriter(conn, 0)
	h := &hello{Proto: ProtocolVersion, Version: version} // no volume: a probe
	if err := w.WriteFrame(tHello, encode(h.encode)); err != nil {
		return "", fmt.Errorf("send hello: %w", err)
	}
	if err := w.Flush(); err != nil {
		return "", fmt.Errorf("send hello: %w", err)
	}
	br := bufio.NewReader(conn)
	first, err := br.Peek(1)
	switch {
	case err != nil && CertificateRefused(err):
		return "", certificateRefusal(err)
	case err != nil:
		return "", fmt.Errorf("no answer after TLS: %w", err)
	case first[0] == '@':
		line, _ := br.ReadString('\n')
		return "a tunnel to an rsync daemon (" + strings.TrimSpace(line) + ")", nil
	}
	t, p, err := wire.NewReader(br, 0).ReadFrame()
	if err != nil {
		return "", fmt.Errorf("read the answer: %w", err)
	}
	d := wire.NewDec(p)
	switch t {
	case tWelcome:
		var m welcome
		m.decode(d)
		if m.Proto != ProtocolVersion {
			return "", fmt.Errorf("a ferry receiver %s speaking protocol %d; this ferry speaks %d: use the same version on both sides", m.Version, m.Proto, ProtocolVersion)
		}
		return fmt.Sprintf("a ferry receiver (ferry %s, protocol %d) accepted our client certificate", m.Version, m.Proto), nil
	case tError:
		var m msgError
		m.decode(d)
		return "", fmt.Errorf("the receiver refused: %s", m.Message)
	}
	return "", fmt.Errorf("an unknown protocol answered (first byte %#x)", first[0])
}

// ErrCertificateRefused: the receiver refused this migration's client certificate. It
// trusts another CA: the certificates are from the wrong directory or of another
// migration. Waiting does not change that.
var ErrCertificateRefused = errors.New("the receiver refused this migration's client certificate")

// certificateAlerts are the TLS alerts (crypto/tls's wording) with which a server refuses
// a client certificate: Go and OpenSSL (stunnel) send "unknown certificate authority" for
// a certificate of another CA, "expired certificate" or "bad certificate" for others, and
// "certificate required" when none was sent.
var certificateAlerts = []string{
	"tls: bad certificate", "tls: unsupported certificate", "tls: revoked certificate",
	"tls: expired certificate", "tls: unknown certificate", "tls: unknown certificate authority",
	"tls: access denied", "tls: certificate required",
}

// CertificateRefused reports whether err is the far end refusing our client certificate.
// In TLS 1.3 the server checks the client certificate after the client's side of the
// handshake is done, so the refusal arrives as an alert on the first read. crypto/tls
// reports a received alert as a *net.OpError with Op "remote error" around its unexported
// alert type (tls.AlertError is only for QUIC), so the alert is known by its text.
func CertificateRefused(err error) bool {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return false
	}
	return slices.Contains(certificateAlerts, op.Err.Error())
}

// certificateRefusal is the error for a refused client certificate: it is
// ErrCertificateRefused and says which alert the receiver sent (alert is the read error).
func certificateRefusal(alert error) error { return &certRefusedError{alert: alert} }

type certRefusedError struct{ alert error }

func (e *certRefusedError) Error() string {
	return fmt.Sprintf("%v: it ended TLS with %q", ErrCertificateRefused, e.alert)
}

func (e *certRefusedError) Unwrap() []error { return []error{ErrCertificateRefused, e.alert} }

// measureLimit bounds a throughput sample.
const measureLimit = 64 << 20

// Measure sends n bytes (at most 64 MiB) to a ferry receiver and returns the time to the
// first answer (a round trip) and the rate at which the bytes arrived, in bytes per second.
func Measure(ctx context.Context, conn net.Conn, version string, n int64) (time.Duration, float64, error) {
	n = min(n, measureLimit)
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	w := wire.NewWriter(conn, 0)
	h := &hello{Proto: ProtocolVersion, Version: version, Role: roleMeasure}
	start := time.Now()
	w.WriteFrame(tHello, encode(h.encode))
	if err := w.Flush(); err != nil {
		return 0, 0, fmt.Errorf("send hello: %w", err)
	}
	r := wire.NewReader(conn, 0)
	if t, _, err := r.ReadFrame(); err != nil || t != tWelcome {
		return 0, 0, fmt.Errorf("no welcome for the sample (%v): is the far end a ferry receiver?", err)
	}
	rtt := time.Since(start)
	buf := make([]byte, 256<<10)
	start = time.Now()
	for sent := int64(0); sent < n; sent += int64(len(buf)) {
		if _, err := conn.Write(buf[:min(int64(len(buf)), n-sent)]); err != nil {
			return rtt, 0, fmt.Errorf("send the sample: %w", err)
		}
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	t, p, err := r.ReadFrame()
	if err != nil || t != tSummary {
		return rtt, 0, fmt.Errorf("no count for the sample: %v", err)
	}
	got := wire.NewDec(p).Uvarint()
	return rtt, float64(got) / time.Since(start).Seconds(), nil
}
