// Command call is a terminal phone: it calls a running switchboard as
// Twilio would and lets you be the caller. It posts a signed incoming-call
// webhook, then follows the TwiML it gets: with <ConversationRelay> it opens
// the relay WebSocket, sends each line you type as the caller's speech and
// prints the assistant's words as they stream; with <Gather> it posts each
// line as a speech result and prints the reply. While the assistant is
// talking, a line starting with "!" interrupts it (what follows the "!" is
// said next). End the call with an empty line at the prompt, Ctrl-D, or by
// saying goodbye.
//
//	make run    # in one terminal
//	make call   # in another
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"switchboard/handlers/relaytest"
	"switchboard/handlers/twiliosig"
	"switchboard/handlers/twiliotest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "call:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	url, publicURL, token, accountSID, from, to string
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	fs.StringVar(&o.url, "url", "http://localhost:8080", "where the server listens")
	fs.StringVar(&o.publicURL, "public-url", "", "the server's PUBLIC_BASE_URL, which requests are signed for (default: -url)")
	fs.StringVar(&o.token, "auth-token", os.Getenv("TWILIO_AUTH_TOKEN"), "the Twilio auth token the server checks signatures with")
	fs.StringVar(&o.accountSID, "account", "AC0123456789abcdef0123456789abcdef", "the AccountSid to call from")
	fs.StringVar(&o.from, "from", "+14155550100", "the caller's number")
	fs.StringVar(&o.to, "to", "+18005550100", "the number called")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.publicURL == "" {
		o.publicURL = o.url
	}
	o.url, o.publicURL = strings.TrimRight(o.url, "/"), strings.TrimRight(o.publicURL, "/")
	for _, u := range []string{o.url, o.publicURL} {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return o, fmt.Errorf("%q is not an http(s) URL", u)
		}
	}
	return o, nil
}

func run(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	c := &caller{o: o, out: out, lines: readLines(in), http: &http.Client{Timeout: 20 * time.Second},
		call: twiliotest.Call{AccountSID: o.accountSID, CallSID: newCallSID(), From: o.from, To: o.to}}
	start := time.Now()
	doc, err := c.post(ctx, "/twilio/voice", c.call.Form("CallStatus", "ringing"))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "calling %s as %s (CallSid %s)\n", o.url, o.from, c.call.CallSID)
	switch {
	case doc.Connect.Relay.URL != "":
		err = c.relay(ctx, doc)
	default:
		err = c.gather(ctx, doc)
	}
	// Hang up as Twilio reports it, so the server summarizes the call.
	secs := fmt.Sprint(int(time.Since(start).Seconds()))
	_, serr := c.post(context.WithoutCancel(ctx), "/twilio/status", c.call.Form("CallStatus", "completed", "CallDuration", secs))
	fmt.Fprintln(out, "[call ended]")
	return errors.Join(err, serr)
}

// caller is one call in progress.
type caller struct {
	o     options
	out   io.Writer
	lines <-chan string
	http  *http.Client
	call  twiliotest.Call
}

// twiml is the part of a TwiML answer the simulator follows.
type twiml struct {
	Says   []string `xml:"Say"`
	Gather struct {
		Action string `xml:"action,attr"`
		Say    string `xml:"Say"`
	} `xml:"Gather"`
	Redirect string    `xml:"Redirect"`
	Hangup   *struct{} `xml:"Hangup"`
	Connect  struct {
		Action string `xml:"action,attr"`
		Relay  struct {
			URL             string `xml:"url,attr"`
			WelcomeGreeting string `xml:"welcomeGreeting,attr"`
		} `xml:"ConversationRelay"`
	} `xml:"Connect"`
}

// post sends a webhook signed as Twilio signs it and reads the TwiML.
func (c *caller) post(ctx context.Context, target string, form url.Values) (twiml, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.o.url+target, strings.NewReader(form.Encode()))
	if err != nil {
		return twiml{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.o.token != "" {
		req.Header.Set("X-Twilio-Signature", twiliosig.Sign(c.o.token, c.o.publicURL+target, form))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return twiml{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return twiml{}, fmt.Errorf("POST %s: %s: %s", target, resp.Status, strings.TrimSpace(string(body)))
	}
	var doc twiml
	if len(body) > 0 && resp.StatusCode != http.StatusNoContent {
		if err := xml.Unmarshal(body, &doc); err != nil {
			return twiml{}, fmt.Errorf("POST %s: answer is not TwiML: %v", target, err)
		}
	}
	return doc, nil
}

// localTarget turns an absolute URL under the public URL into a request
// target on the server.
func (c *caller) localTarget(abs string) string {
	u, err := url.Parse(abs)
	if err != nil {
		return abs
	}
	base, _ := url.Parse(c.o.publicURL)
	return strings.TrimPrefix(u.RequestURI(), strings.TrimRight(base.Path, "/"))
}

// gather runs a <Gather> call: one webhook per thing said.
func (c *caller) gather(ctx context.Context, doc twiml) error {
	for {
		for _, s := range doc.Says {
			fmt.Fprintf(c.out, "assistant: %s\n", s)
		}
		if doc.Gather.Say != "" {
			fmt.Fprintf(c.out, "assistant: %s\n", doc.Gather.Say)
		}
		if doc.Hangup != nil || doc.Gather.Action == "" {
			return nil
		}
		said, ok := c.prompt(ctx)
		if !ok {
			return nil
		}
		var err error
		doc, err = c.post(ctx, c.localTarget(doc.Gather.Action), c.call.Form("SpeechResult", said, "Confidence", "0.92"))
		if err != nil {
			return err
		}
	}
}

// prompt asks for the caller's next words; false ends the call.
func (c *caller) prompt(ctx context.Context) (string, bool) {
	fmt.Fprint(c.out, "you: ")
	select {
	case line, ok := <-c.lines:
		line = strings.TrimSpace(line)
		return line, ok && line != ""
	case <-ctx.Done():
		return "", false
	}
}

// relay runs a ConversationRelay call over its WebSocket.
func (c *caller) relay(ctx context.Context, doc twiml) error {
	fmt.Fprintf(c.out, "assistant: %s\n", doc.Connect.Relay.WelcomeGreeting)
	socketURL := doc.Connect.Relay.URL
	dial := "ws" + strings.TrimPrefix(c.o.url, "http") + c.localTarget(socketURL)
	h := http.Header{}
	if c.o.token != "" {
		h.Set("X-Twilio-Signature", relaytest.Sign(c.o.token, socketURL))
	}
	ws, resp, err := relaytest.Dial(ctx, dial, h)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("relay handshake: %s", resp.Status)
		}
		return fmt.Errorf("relay handshake: %w", err)
	}
	defer ws.Close()
	if err := ws.Setup(c.call.CallSID, c.call.AccountSID, c.call.From, c.call.To); err != nil {
		return err
	}

	// The reader prints tokens as they arrive; heard is what the caller
	// has "heard" of the reply in progress.
	var mu sync.Mutex
	var heard strings.Builder
	speaking := false
	awaiting := false // a prompt went out and its reply is not over
	ended := make(chan string, 1)
	go func() {
		for {
			f, err := ws.Next(24 * time.Hour)
			if err != nil {
				close(ended)
				return
			}
			mu.Lock()
			switch f.Type {
			case "text":
				if !speaking && f.Token != "" {
					speaking = true
					heard.Reset()
					fmt.Fprint(c.out, "\rassistant: ")
				}
				fmt.Fprint(c.out, f.Token)
				heard.WriteString(f.Token)
				if f.Last {
					awaiting = false
					if speaking {
						speaking = false
						fmt.Fprint(c.out, "\nyou: ")
					}
				}
			case "end":
				mu.Unlock()
				ended <- f.HandoffData
				return
			}
			mu.Unlock()
		}
	}()

	fmt.Fprint(c.out, "you: ")
	lines := c.lines
	var tick <-chan time.Time
	var eof time.Time
	for {
		select {
		case <-tick:
			// Stdin is over: hang up once the last reply is.
			mu.Lock()
			done := !awaiting || time.Since(eof) > 20*time.Second
			mu.Unlock()
			if done {
				return nil
			}
		case hd, ok := <-ended:
			if !ok {
				return errors.New("the server closed the relay socket")
			}
			return c.endSession(ctx, hd)
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			line = strings.TrimSpace(line)
			if !ok {
				lines, eof = nil, time.Now()
				t := time.NewTicker(20 * time.Millisecond)
				defer t.Stop()
				tick = t.C
				continue
			}
			mu.Lock()
			talking := speaking
			so := strings.TrimSpace(heard.String())
			if strings.HasPrefix(line, "!") && talking {
				speaking = false
				fmt.Fprintf(c.out, "\n[you interrupt after %q]\n", so)
				mu.Unlock()
				if err := ws.Interrupt(so, 500); err != nil {
					return err
				}
				line = strings.TrimSpace(strings.TrimPrefix(line, "!"))
			} else {
				mu.Unlock()
				line = strings.TrimPrefix(line, "!")
			}
			if line == "" {
				if talking {
					continue
				}
				return nil
			}
			mu.Lock()
			awaiting = true
			mu.Unlock()
			if err := ws.Prompt(line); err != nil {
				return err
			}
		}
	}
}

// endSession does what Twilio does after an end message: it posts the
// <Connect action> callback and plays the TwiML it gets.
func (c *caller) endSession(ctx context.Context, handoff string) error {
	doc, err := c.post(ctx, "/twilio/relay/action", c.call.Form("CallStatus", "in-progress",
		"SessionId", "VX"+strings.Repeat("0", 32), "SessionStatus", "ended", "HandoffData", handoff))
	if err != nil {
		return err
	}
	fmt.Fprintln(c.out)
	for _, s := range doc.Says {
		fmt.Fprintf(c.out, "assistant: %s\n", s)
	}
	return nil
}

// readLines delivers stdin line by line; the channel closes at EOF.
func readLines(in io.Reader) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		s := bufio.NewScanner(in)
		for s.Scan() {
			ch <- s.Text()
		}
	}()
	return ch
}

// newCallSID is a fresh CallSid, so calls to a long-running server never
// collide.
func newCallSID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "CA" + hex.EncodeToString(b[:])
}
