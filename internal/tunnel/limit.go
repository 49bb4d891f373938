package tunnel

import (
	"context"
	"net"

	"golang.org/x/time/rate"
)

// limitedConn paces writes to a rate.
type limitedConn struct {
	net.Conn
	lim *rate.Limiter
}

// NewLimiter returns a limiter of bytesPerSecond for LimitWrites; nil for no limit. One
// limiter shared by several connections limits them together.
func NewLimiter(bytesPerSecond int64) *rate.Limiter {
	if bytesPerSecond <= 0 {
		return nil
	}
	burst := int(min(max(bytesPerSecond/10, 16<<10), 1<<20))
	return rate.NewLimiter(rate.Limit(bytesPerSecond), burst)
}

// LimitWrites returns c with its writes paced by lim (nil: no limit).
func LimitWrites(c net.Conn, lim *rate.Limiter) net.Conn {
	if lim == nil {
		return c
	}
	return &limitedConn{Conn: c, lim: lim}
}

func (c *limitedConn) Write(b []byte) (int, error) {
	var n int
	for len(b) > 0 {
		k := min(len(b), c.lim.Burst())
		if err := c.lim.WaitN(context.Background(), k); err != nil {
			return n, err
		}
		w, err := c.Conn.Write(b[:k])
		n += w
		if err != nil {
			return n, err
		}
		b = b[k:]
	}
	return n, nil
}

// CloseWrite half-closes when the underlying connection can.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
