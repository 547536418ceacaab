package pgtest

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
)

// RoundTrips counts the round trips between a store and PostgreSQL as they
// cross the network, not as the driver is called: every time a connection
// that has written reads again, the client waited for the server once. So
// BEGIN and COMMIT, a statement's first Parse and Describe, a pipelined
// batch (one wait however many statements) and retries are all counted as
// what they cost. Install Dial as postgres.Config.Dial.
type RoundTrips struct {
	n atomic.Int64
}

// Dial opens a TCP connection that counts its round trips.
func (r *RoundTrips) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, rt: r}, nil
}

// Count returns the round trips so far on every connection Dial opened.
func (r *RoundTrips) Count() int64 { return r.n.Load() }

// countingConn counts a round trip when a read that follows a write returns
// data. The check comes after the read, not before it: pgx may already be
// blocked in a read on a background goroutine when it writes, and that read
// returns the answer to the write.
type countingConn struct {
	net.Conn
	rt *RoundTrips

	mu      sync.Mutex
	written bool
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.written = true
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if c.written {
			c.written = false
			c.rt.n.Add(1)
		}
		c.mu.Unlock()
	}
	return n, err
}
