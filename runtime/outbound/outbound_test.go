package outbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// table is a resolver with fixed answers; a name may answer differently
// on each lookup (DNS rebinding).
type table struct {
	mu      sync.Mutex
	answers map[string][][]string
	lookups map[string]int
}

func (r *table) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seq, ok := r.answers[strings.ToLower(host)]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	if r.lookups == nil {
		r.lookups = map[string]int{}
	}
	n := r.lookups[host]
	r.lookups[host]++
	var out []netip.Addr
	for _, s := range seq[n%len(seq)] {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

// receiver is a business endpoint on loopback that counts what reaches it.
type receiver struct {
	*httptest.Server
	hits atomic.Int64
	port string
}

func newReceiver(t *testing.T, h http.HandlerFunc) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		h(w, req)
	}))
	t.Cleanup(r.Close)
	_, r.port, _ = net.SplitHostPort(r.Listener.Addr().String())
	return r
}

func ok(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"ok":true}`)
}

func mustRefused(t *testing.T, err error, target string) {
	t.Helper()
	var refused *RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("%s: got %v, want a refusal", target, err)
	}
}

func TestPostSignedAndVerifiedByStandardWebhooks(t *testing.T) {
	secret := NewSecret()
	if err := CheckSecret(secret); err != nil {
		t.Fatalf("NewSecret() = %q: %v", secret, err)
	}
	verifier, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	var gotID string
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := verifier.Verify(body, r.Header); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		gotID = r.Header.Get("webhook-id")
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			http.Error(w, "content type "+ct, http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `{"echo":%s}`, body)
	})
	c := New(Config{AllowPrivate: true})
	resp, err := c.Post(context.Background(), Request{URL: rcv.URL + "/tools/order", Body: []byte(`{"order":"A-1"}`), Secret: secret, ID: "msg_fixed"})
	if err != nil {
		t.Fatalf("Post: %v (body %s)", err, resp.Body)
	}
	if string(resp.Body) != `{"echo":{"order":"A-1"}}` || resp.Status != 200 || gotID != "msg_fixed" {
		t.Fatalf("got status %d body %s id %q", resp.Status, resp.Body, gotID)
	}

	t.Run("ErrWrongSecret", func(t *testing.T) {
		resp, err := c.Post(context.Background(), Request{URL: rcv.URL, Body: []byte(`{}`), Secret: NewSecret()})
		var se *StatusError
		if !errors.As(err, &se) || se.Status != http.StatusUnauthorized {
			t.Fatalf("a request signed with another secret: %v %s", err, resp.Body)
		}
	})
	t.Run("ErrTamperedBody", func(t *testing.T) {
		s, _ := NewSigner(secret)
		h := http.Header{}
		if err := s.Sign(h, "", time.Now(), []byte(`{"amount":1}`)); err != nil {
			t.Fatal(err)
		}
		if h.Get("webhook-id") == "" || !strings.HasPrefix(h.Get("webhook-signature"), "v1,") {
			t.Fatalf("headers %v", h)
		}
		if err := verifier.Verify([]byte(`{"amount":1000}`), h); err == nil {
			t.Fatal("a tampered body verified")
		}
		if err := verifier.Verify([]byte(`{"amount":1}`), h); err != nil {
			t.Fatalf("the signed body: %v", err)
		}
	})
	t.Run("ErrBadSecret", func(t *testing.T) {
		for _, s := range []string{"", "secret", "whsec_", "whsec_!!!!", "whsec_" + strings.Repeat("A", 8), "whsec_" + strings.Repeat("QUFB", 40)} {
			if err := CheckSecret(s); err == nil {
				t.Errorf("CheckSecret(%q) accepted", s)
			}
			if _, err := c.Post(context.Background(), Request{URL: rcv.URL, Secret: s}); s != "" && !errors.Is(err, ErrBadSecret) {
				t.Errorf("Post with secret %q: %v", s, err)
			}
		}
	})
}

// TestRefusesForbiddenTargets: every class of forbidden target, written as
// a literal, is refused before any connection, even with AllowPrivate.
func TestRefusesForbiddenTargets(t *testing.T) {
	rcv := newReceiver(t, ok)
	c := New(Config{AllowPrivate: true})
	for _, target := range []string{
		"http://169.254.169.254/latest/meta-data/",
		"http://169.254.170.2/v2/credentials",
		"http://[fd00:ec2::254]/latest/meta-data/",
		"http://[::ffff:169.254.169.254]/",
		"http://[::ffff:a9fe:a9fe]/",
		"http://[64:ff9b::a9fe:a9fe]/",
		"http://2852039166/",          // decimal
		"http://0xa9fea9fe/",          // hexadecimal
		"http://0251.0376.0251.0376/", // octal
		"http://169.254.43518/",       // three-part
		"http://[fe80::1%25eth0]/",
		"http://0.0.0.0:" + rcv.port + "/", // reaches the local host on Linux
		"http://[::]:" + rcv.port + "/",
		"http://224.0.0.1/",
		"http://[ff02::1]/",
		"http://255.255.255.255/",
		"http://240.0.0.1/",
		"file:///etc/passwd",
		"gopher://127.0.0.1:" + rcv.port + "/",
		"http://user:pass@127.0.0.1:" + rcv.port + "/",
		"/relative",
	} {
		_, err := c.Post(context.Background(), Request{URL: target, Body: []byte(`{}`)})
		mustRefused(t, err, target)
	}
	if n := rcv.hits.Load(); n != 0 {
		t.Fatalf("the receiver got %d requests", n)
	}
}

// TestRefusesPrivateTargets: loopback and private ranges are refused when
// AllowPrivate is off, whether written as literals or reached by a name
// that resolves inside; the same name works with AllowPrivate on.
func TestRefusesPrivateTargets(t *testing.T) {
	rcv := newReceiver(t, ok)
	resolver := &table{answers: map[string][][]string{
		"tools.example":    {{"127.0.0.1"}},
		"inside.example":   {{"10.0.0.7"}},
		"mixed.example":    {{"127.0.0.1", "192.168.4.4"}},
		"metadata.example": {{"169.254.169.254"}},
		"v6meta.example":   {{"fd00:ec2::254"}},
	}}
	strict := New(Config{Resolver: resolver})
	for _, target := range []string{
		"http://127.0.0.1:" + rcv.port + "/",
		"http://[::1]:" + rcv.port + "/",
		"http://10.0.0.1/", "http://172.16.0.1/", "http://192.168.0.1/",
		"http://100.64.0.1/", // CGNAT
		"http://[fc00::1]/", "http://[fd12::1]/",
		"http://[::ffff:127.0.0.1]:" + rcv.port + "/",
		"http://tools.example:" + rcv.port + "/", // a name that resolves to loopback
		"http://inside.example/",
		"http://mixed.example:" + rcv.port + "/",
		"http://metadata.example/",
		"http://v6meta.example/",
	} {
		_, err := strict.Post(context.Background(), Request{URL: target, Body: []byte(`{}`)})
		mustRefused(t, err, target)
	}
	if n := rcv.hits.Load(); n != 0 {
		t.Fatalf("the receiver got %d requests", n)
	}

	dev := New(Config{AllowPrivate: true, Resolver: resolver})
	if _, err := dev.Post(context.Background(), Request{URL: "http://tools.example:" + rcv.port + "/", Body: []byte(`{}`)}); err != nil {
		t.Fatalf("AllowPrivate: %v", err)
	}
	_, err := dev.Post(context.Background(), Request{URL: "http://metadata.example/", Body: []byte(`{}`)})
	mustRefused(t, err, "metadata.example with AllowPrivate")
	if err := strict.CheckURL("http://10.0.0.1/x"); err == nil {
		t.Fatal("CheckURL accepted a private literal")
	}
	if err := strict.CheckURL("https://tools.example/x"); err != nil {
		t.Fatalf("CheckURL refused a name: %v", err)
	}
}

// TestDNSRebinding: a name that answers the receiver once and the metadata
// service the next time never reaches the metadata service: each dial
// checks the address it connects to.
func TestDNSRebinding(t *testing.T) {
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close") // every request dials anew
		ok(w, r)
	})
	resolver := &table{answers: map[string][][]string{
		"rebind.example": {{"127.0.0.1"}, {"169.254.169.254"}},
	}}
	c := New(Config{AllowPrivate: true, Resolver: resolver})
	var refused, passed int
	for range 6 {
		_, err := c.Post(context.Background(), Request{URL: "http://rebind.example:" + rcv.port + "/", Body: []byte(`{}`)})
		var re *RefusedError
		switch {
		case err == nil:
			passed++
		case errors.As(err, &re):
			refused++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if refused != 3 || passed != 3 || rcv.hits.Load() != 3 {
		t.Fatalf("refused %d, passed %d, hits %d; want 3, 3, 3", refused, passed, rcv.hits.Load())
	}
}

func TestRedirects(t *testing.T) {
	resolver := &table{answers: map[string][][]string{
		"metadata.example": {{"169.254.169.254"}},
		"tools.example":    {{"127.0.0.1"}},
	}}
	c := New(Config{AllowPrivate: true, Resolver: resolver, MaxRedirects: 2})
	final := newReceiver(t, ok)
	redirectTo := func(loc string) *receiver {
		return newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, loc, http.StatusTemporaryRedirect)
		})
	}
	for _, loc := range []string{
		"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
		"http://[fd00:ec2::254]/latest/meta-data/",
		"http://metadata.example/latest/meta-data/",
		"http://2852039166/",
		"http://[::ffff:169.254.169.254]/",
		"file:///etc/passwd",
	} {
		_, err := c.Post(context.Background(), Request{URL: redirectTo(loc).URL, Body: []byte(`{}`)})
		mustRefused(t, err, "redirect to "+loc)
	}

	t.Run("OK", func(t *testing.T) {
		start := redirectTo("http://tools.example:" + final.port + "/done")
		resp, err := c.Post(context.Background(), Request{URL: start.URL, Body: []byte(`{}`)})
		if err != nil || string(resp.Body) != `{"ok":true}` {
			t.Fatalf("a redirect to an allowed target: %v %s", err, resp.Body)
		}
	})
	t.Run("ErrTooManyRedirects", func(t *testing.T) {
		var loop *receiver
		loop = newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, loop.URL+"/again", http.StatusTemporaryRedirect)
		})
		_, err := c.Post(context.Background(), Request{URL: loop.URL, Body: []byte(`{}`)})
		if !errors.Is(err, ErrTooManyRedirects) {
			t.Fatalf("got %v", err)
		}
		if n := loop.hits.Load(); n != 3 {
			t.Fatalf("followed %d requests, want 3 (the first and 2 redirects)", n)
		}
	})
}

func TestBounds(t *testing.T) {
	t.Run("ErrTimeout", func(t *testing.T) {
		release := make(chan struct{})
		slow := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			ok(w, r)
		})
		defer close(release)
		c := New(Config{AllowPrivate: true})
		start := time.Now()
		_, err := c.Post(context.Background(), Request{URL: slow.URL, Body: []byte(`{}`), Timeout: 100 * time.Millisecond})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want a deadline", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("a 100ms timeout returned after %s", d)
		}
		// The client's own Timeout bounds a request with no deadline.
		c = New(Config{AllowPrivate: true, Timeout: 100 * time.Millisecond})
		if _, err := c.Post(context.Background(), Request{URL: slow.URL, Body: []byte(`{}`)}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("client timeout: got %v", err)
		}
	})
	t.Run("ErrResponseTooLarge", func(t *testing.T) {
		big := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			for range 64 {
				if _, err := io.WriteString(w, strings.Repeat("x", 1024)); err != nil {
					return
				}
			}
		})
		c := New(Config{AllowPrivate: true, MaxResponseBytes: 4096})
		resp, err := c.Post(context.Background(), Request{URL: big.URL, Body: []byte(`{}`)})
		if !errors.Is(err, ErrResponseTooLarge) || len(resp.Body) != 4096 {
			t.Fatalf("got %v with %d bytes", err, len(resp.Body))
		}
	})
	t.Run("ErrStatus", func(t *testing.T) {
		failing := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "down for maintenance", http.StatusInternalServerError)
		})
		resp, err := New(Config{AllowPrivate: true}).Post(context.Background(), Request{URL: failing.URL, Body: []byte(`{}`)})
		var se *StatusError
		if !errors.As(err, &se) || se.Status != 500 || resp.Status != 500 || !strings.Contains(string(se.Body), "maintenance") {
			t.Fatalf("got %v, %+v", err, resp)
		}
	})
}

// TestNoProxyFromEnvironment: an HTTP_PROXY in the environment, which
// would dial on the client's behalf past its checks, is not used.
func TestNoProxyFromEnvironment(t *testing.T) {
	proxy := newReceiver(t, ok)
	target := newReceiver(t, ok)
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")
	resolver := &table{answers: map[string][][]string{"tools.example": {{"127.0.0.1"}}}}
	url := "http://tools.example:" + target.port + "/"
	probe, _ := http.NewRequest(http.MethodPost, url, nil)
	if u, err := http.ProxyFromEnvironment(probe); err != nil || u == nil {
		t.Fatalf("the environment's proxy is not in effect for this process (%v, %v): the test would prove nothing", u, err)
	}
	if _, err := New(Config{AllowPrivate: true, Resolver: resolver}).Post(context.Background(), Request{URL: url, Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if proxy.hits.Load() != 0 || target.hits.Load() != 1 {
		t.Fatalf("proxy hits %d, target hits %d", proxy.hits.Load(), target.hits.Load())
	}
}
