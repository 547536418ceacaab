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

// countingConn counts a round trip at the first read after a write. pgx may
// read on a background goroutine while it writes, hence the lock.
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
	c.mu.Lock()
	if c.written {
		c.written = false
		c.rt.n.Add(1)
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}
