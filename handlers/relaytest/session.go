package relaytest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Session is one ConversationRelay session as Twilio runs it with
// applicationReconnect="true": when its socket drops unexpectedly it
// connects again (through Dial, the load balancer, which may pick any
// instance), sends setup again when SetupOnReconnect is set, and replays
// the events the caller produced while it was down (Twilio "buffers up to
// 500 events during an unexpected connection drop and automatically
// replays them when it successfully reconnects to your application",
// changelog 2026-10-28). Which closes Twilio counts as unexpected is not
// documented; Reconnects decides, by close code (1006: no close frame).
// A session that does not reconnect has ended: Ended says so, and the
// caller of the test posts <Connect action> as Twilio would.
type Session struct {
	CallSID, AccountSID, From, To string
	// Dial connects a new socket; it may fail (no instance accepts).
	Dial func(ctx context.Context) (*Client, error)
	// Reconnects reports whether a socket closed with code is reconnected.
	Reconnects func(code int) bool
	// SetupOnReconnect sends setup on every socket, not only the first.
	SetupOnReconnect bool
	// ReplayLastSent also replays the last event sent before a drop, as
	// if Twilio could not know it had arrived.
	ReplayLastSent bool

	mu       sync.Mutex
	c        *Client
	buffered []map[string]any
	lastSent map[string]any
	// sentOn is the socket the last event went out on: its answer is read
	// there first, whatever socket came after.
	sentOn *Client
	// textsAtSend is the socket's text-frame count when the last prompt
	// was sent: no text since means Twilio cannot know it was answered.
	textsAtSend int64
	ended       error
	reconnects  int
	dropAt      time.Time
	gaps        []time.Duration
}

// ErrEnded is returned once the session is over (no reconnection).
var ErrEnded = errors.New("relaytest: session ended")

// Open connects the first socket and sends setup.
func (s *Session) Open(ctx context.Context) error {
	c, err := s.Dial(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.c = c
	s.mu.Unlock()
	if err := c.Setup(s.CallSID, s.AccountSID, s.From, s.To); err != nil {
		return err
	}
	go s.watch(context.WithoutCancel(ctx))
	return nil
}

// watch reconnects as soon as a socket drops, as Twilio does, without
// waiting for the caller to speak.
func (s *Session) watch(ctx context.Context) {
	for {
		c := s.Client()
		<-c.Closed()
		if s.recover(ctx, c) != nil || s.Ended() != nil {
			return
		}
	}
}

// Reconnections is how many times the session connected again.
func (s *Session) Reconnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reconnects
}

// Gaps are, for each reconnection, the time from the drop until the first
// text frame on the new socket: the silence the caller heard.
func (s *Session) Gaps() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.gaps...)
}

// Ended is nil while the session lives, else why it ended.
func (s *Session) Ended() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// Client is the current socket.
func (s *Session) Client() *Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

// Prompt sends the caller's words; while the socket is down they are
// buffered and replayed on the next one.
func (s *Session) Prompt(ctx context.Context, words string) error {
	return s.send(ctx, map[string]any{"type": "prompt", "voicePrompt": words, "lang": "en-US", "last": true})
}

// Error sends an error message, as Twilio does when a speech provider
// fails.
func (s *Session) Error(ctx context.Context, description string) error {
	return s.send(ctx, map[string]any{"type": "error", "description": description})
}

func (s *Session) send(ctx context.Context, ev map[string]any) error {
	for {
		s.mu.Lock()
		c, ended := s.c, s.ended
		s.mu.Unlock()
		if ended != nil {
			return ended
		}
		select {
		case <-c.Closed():
			s.mu.Lock()
			if s.c == c {
				// Down: buffered, replayed on the next socket.
				s.buffered = append(s.buffered, ev)
				s.mu.Unlock()
				return s.recover(ctx, c)
			}
			s.mu.Unlock()
			continue
		default:
		}
		s.mu.Lock()
		s.textsAtSend = c.texts.Load()
		s.mu.Unlock()
		if err := c.Send(ev); err == nil {
			s.mu.Lock()
			s.lastSent, s.sentOn = ev, c
			s.mu.Unlock()
			return nil
		}
		// The write failed: the socket is going; wait for the reader to
		// see it closed, then recover.
		select {
		case <-c.Closed():
		case <-time.After(5 * time.Second):
			return fmt.Errorf("relaytest: a write failed but the socket stays open")
		}
	}
}

// recover handles the close of c: reconnect and replay, or end.
func (s *Session) recover(ctx context.Context, c *Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != c || s.ended != nil {
		return s.ended // another goroutine recovered already
	}
	code := c.CloseCode()
	if code == -1 {
		code = 1006
	}
	if s.Reconnects == nil || !s.Reconnects(code) {
		s.ended = fmt.Errorf("%w: socket closed with %d", ErrEnded, code)
		return s.ended
	}
	s.dropAt = time.Now()
	var nc *Client
	var err error
	for attempt := range 50 {
		if nc, err = s.Dial(ctx); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			s.ended = fmt.Errorf("%w: %v", ErrEnded, ctx.Err())
			return s.ended
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
	if err != nil {
		s.ended = fmt.Errorf("%w: reconnecting: %v", ErrEnded, err)
		return s.ended
	}
	s.c = nc
	s.reconnects++
	if s.SetupOnReconnect {
		if err := nc.Setup(s.CallSID, s.AccountSID, s.From, s.To); err != nil {
			return err
		}
	}
	replay := s.buffered
	unanswered := s.lastSent != nil && s.lastSent["type"] == "prompt" && c.texts.Load() == s.textsAtSend
	if (s.ReplayLastSent || unanswered) && s.lastSent != nil {
		replay = append([]map[string]any{s.lastSent}, replay...)
	}
	s.buffered = nil
	for _, ev := range replay {
		s.textsAtSend = nc.texts.Load()
		if err := nc.Send(ev); err != nil {
			return err
		}
		s.lastSent, s.sentOn = ev, nc
	}
	return nil
}

// Reply reads the assistant's reply to the last prompt: text frames until
// one with last set, or an end message. A drop on the way is recovered
// from and reading goes on on the new socket; what the dropped socket
// had said is discarded (Twilio stops speaking it), so the text returned
// is the reply as the caller finally heard it through.
func (s *Session) Reply(ctx context.Context, timeout time.Duration) (string, []Frame, error) {
	var b strings.Builder
	var frames []Frame
	deadline := time.Now().Add(timeout)
	s.mu.Lock()
	c := s.sentOn
	s.mu.Unlock()
	if c == nil {
		c = s.Client()
	}
	for {
		// Next returns every frame the socket received before it says
		// the socket closed.
		f, err := c.Next(time.Until(deadline))
		if err != nil {
			select {
			case <-c.Closed():
				if rerr := s.recover(ctx, c); rerr != nil {
					return b.String(), frames, rerr
				}
				nc := s.Client()
				if nc == c {
					return b.String(), frames, err
				}
				c = nc
				b.Reset()
				continue
			default:
				return b.String(), frames, err
			}
		}
		frames = append(frames, f)
		s.mu.Lock()
		if !s.dropAt.IsZero() && f.Type == "text" {
			s.gaps = append(s.gaps, f.At.Sub(s.dropAt))
			s.dropAt = time.Time{}
		}
		s.mu.Unlock()
		switch f.Type {
		case "text":
			b.WriteString(f.Token)
			if f.Last {
				return b.String(), frames, nil
			}
		case "end":
			return b.String(), frames, nil
		}
	}
}

// Close ends the session as Twilio does when the call ends.
func (s *Session) Close() {
	s.mu.Lock()
	c := s.c
	if s.ended == nil {
		s.ended = ErrEnded
	}
	s.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}
