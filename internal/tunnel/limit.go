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

// LimitWrites returns c with its writes paced to bytesPerSecond (0: no limit).
func LimitWrites(c net.Conn, bytesPerSecond int64) net.Conn {
	if bytesPerSecond <= 0 {
		return c
	}
	burst := int(min(max(bytesPerSecond/10, 16<<10), 1<<20))
	return &limitedConn{Conn: c, lim: rate.NewLimiter(rate.Limit(bytesPerSecond), burst)}
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
