package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// client is the load generator's HTTP client. It shares the machine's CPUs
// with the service and PostgreSQL (Twilio's would not), so it does no more
// than pgbench does on its side: it writes a request prepared beforehand
// on a kept-alive connection and reads the status line, the headers and
// as many bytes of body as Content-Length says. It never waits for a free
// connection: it opens one whenever all are busy, and counts how many it
// opened.
type client struct {
	addr  string
	mu    sync.Mutex
	idle  []*conn
	dials atomic.Int64
}

// conn is one kept-alive connection to the service.
type conn struct {
	net.Conn
	r *bufio.Reader
}

func newClient(base string) *client { return &client{addr: strings.TrimPrefix(base, "http://")} }

func (c *client) get() (*conn, error) {
	c.mu.Lock()
	if n := len(c.idle); n > 0 {
		cn := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return cn, nil
	}
	c.mu.Unlock()
	nc, err := net.Dial("tcp", c.addr)
	if err != nil {
		return nil, err
	}
	c.dials.Add(1)
	return &conn{Conn: nc, r: bufio.NewReaderSize(nc, 4096)}, nil
}

func (c *client) put(cn *conn) {
	c.mu.Lock()
	c.idle = append(c.idle, cn)
	c.mu.Unlock()
}

// send performs r against the service and reports an unexpected answer.
func (c *client) send(r request) error {
	cn, err := c.get()
	if err != nil {
		return err
	}
	if _, err := cn.Write(r.wire); err != nil {
		cn.Close()
		return err
	}
	status, body, keep, err := readResponse(cn.r)
	if err != nil {
		cn.Close()
		return err
	}
	if keep {
		c.put(cn)
	} else {
		cn.Close()
	}
	if status != r.want {
		return fmt.Errorf("%s answered %d, want %d: %.200s", r.path, status, r.want, body)
	}
	return nil
}

// readResponse reads one HTTP/1.1 response with a Content-Length or no
// body (the service sends nothing else), returning its status, the first bytes of
// its body and whether the connection stays open.
func readResponse(r *bufio.Reader) (status int, body []byte, keep bool, err error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, nil, false, err
	}
	f := bytes.Fields(line)
	if len(f) < 2 || !bytes.HasPrefix(f[0], []byte("HTTP/1.")) {
		return 0, nil, false, fmt.Errorf("malformed status line %q", line)
	}
	if status, err = strconv.Atoi(string(f[1])); err != nil {
		return 0, nil, false, fmt.Errorf("malformed status line %q", line)
	}
	length, keep := -1, true
	for {
		h, err := r.ReadSlice('\n')
		if err != nil {
			return 0, nil, false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, _ := bytes.Cut(h, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, nil, false, fmt.Errorf("malformed Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			keep = false
		}
	}
	switch {
	case status == 204 || status == 304:
		return status, nil, keep, nil // no body, whatever the headers say
	case length < 0:
		return 0, nil, false, errors.New("response without Content-Length")
	}
	if status == 200 || status == 204 {
		_, err = r.Discard(length)
		return status, nil, keep, err
	}
	body = make([]byte, length)
	_, err = io.ReadFull(r, body)
	return status, body, keep, err
}

// warm opens n connections to the service, so a run that follows finds
// them open.
func (c *client) warm(n int) error {
	for range n - len(c.idle) {
		nc, err := net.Dial("tcp", c.addr)
		if err != nil {
			return err
		}
		c.dials.Add(1)
		c.put(&conn{Conn: nc, r: bufio.NewReaderSize(nc, 4096)})
	}
	return nil
}

// open is how many connections the client holds idle.
func (c *client) open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idle)
}

// closedLoop runs clients that each send their next request as soon as the
// previous one is answered: the most the service (or pgbench, which runs
// the same way) can do with that many clients.
type closedLoop struct {
	clients int
	limit   int // requests each client may send
}

type throughput struct {
	requests, errors int
	elapsed, mean    time.Duration
	perSecond        float64
}

func (l closedLoop) run(d time.Duration, do func(client, i int) error) (throughput, error) {
	var requests, errs, busy atomic.Int64
	var firstErr error
	var once sync.Once
	var exhausted atomic.Bool
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for c := range l.clients {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				if i >= l.limit {
					exhausted.Store(true)
					return
				}
				t0 := time.Now()
				err := do(c, i)
				busy.Add(int64(time.Since(t0)))
				requests.Add(1)
				if err != nil {
					errs.Add(1)
					once.Do(func() { firstErr = err })
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	t := throughput{requests: int(requests.Load()), errors: int(errs.Load()), elapsed: elapsed}
	t.perSecond = float64(t.requests-t.errors) / elapsed.Seconds()
	if t.requests > 0 {
		t.mean = time.Duration(busy.Load() / int64(t.requests))
	}
	switch {
	case exhausted.Load():
		return t, errors.New("a client ran out of seeded calls: raise -max-rate")
	case firstErr != nil:
		return t, fmt.Errorf("%d of %d requests failed; first: %w", t.errors, t.requests, firstErr)
	}
	return t, nil
}
