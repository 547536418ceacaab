package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	fiberws "github.com/gofiber/contrib/websocket"

	"switchboard/storage"
)

// relaySession is one ConversationRelay socket. Three goroutines serve it:
// the reader turns frames into events, the pinger keeps the peer honest,
// and the loop (runRelay's own goroutine) owns every piece of state: it
// stores turns, starts and stops replies, which stream in a goroutine of
// their own and hand their result back to the loop.
type relaySession struct {
	s       *Server
	ws      *websocket.Conn
	callSID string
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc

	wmu         sync.Mutex // one writer at a time
	writeFailed atomic.Bool
	events      chan inbound
	// readErr says why reading stopped; written before events is closed.
	readErr closeReason

	away     chan struct{}
	awayOnce sync.Once
	drop     chan struct{}
	dropOnce sync.Once

	// Owned by the loop.
	call     storage.Call
	known    bool // the call's record exists
	prompts  int  // final prompts received on this socket
	cur      *replyRun
	ended    bool // an end message was sent
	leaving  bool // draining: close once the reply in flight is done
	endTimer *time.Timer
	// resumeTimer runs while a takeover waits for replayed events.
	resumeTimer *time.Timer
	// leaveTimer bounds the wait for the reply in flight while draining.
	leaveTimer *time.Timer
	// resumedTurn is the caller turn this socket answered by itself on
	// taking the call over (relay_takeover.go); 0 when none.
	resumedTurn int
	// twilioErrors counts Twilio's error messages on this socket.
	twilioErrors int
}

// inbound is a message and when it was read.
type inbound struct {
	msg relayInbound
	at  time.Time
}

// closeReason is how and why a socket is closed.
type closeReason struct {
	code   int
	reason string // metric label and close text
}

var (
	closePeer     = closeReason{websocket.CloseNormalClosure, "peer"}
	closeEnd      = closeReason{websocket.CloseNormalClosure, "end"}
	closeTooLarge = closeReason{websocket.CloseMessageTooBig, "too_large"}
	closeBadFrame = closeReason{websocket.CloseInvalidFramePayloadData, "malformed"}
	closeBinary   = closeReason{websocket.CloseUnsupportedData, "malformed"}
	closeFlood    = closeReason{websocket.ClosePolicyViolation, "flood"}
	closeTimeout  = closeReason{websocket.CloseGoingAway, "timeout"}
	closePolicy   = closeReason{websocket.ClosePolicyViolation, "policy"}
	closeStore    = closeReason{websocket.CloseInternalServerErr, "store"}
	closeWrite    = closeReason{websocket.CloseGoingAway, "write_failed"}
)

// errFlood ends a session whose peer sends faster than allowed.
var errFlood = errors.New("too many messages")

// endGrace is how long the socket stays open after an end message, for
// Twilio to close it first.
const endGrace = 5 * time.Second

// runRelay serves one upgraded socket until it closes.
func (s *Server) runRelay(conn *fiberws.Conn, callSID string) {
	ctx, cancel := relayContext()
	defer cancel()
	rs := &relaySession{
		s: s, ws: conn.Conn, callSID: callSID, ctx: ctx, cancel: cancel,
		log:    s.log.With("call_sid", callSID, "mode", ModeRelay),
		events: make(chan inbound, 8),
		away:   make(chan struct{}),
		drop:   make(chan struct{}),
	}
	s.addRelay(rs)
	defer s.removeRelay(rs)
	if s.draining.Load() && s.relay.cfg.ApplicationReconnect {
		rs.goAway()
	}

	cfg := s.relay.cfg
	rs.ws.SetReadLimit(int64(cfg.MaxMessageBytes))
	rs.extendDeadline()
	rs.ws.SetPongHandler(func(string) error { rs.extendDeadline(); return nil })

	var wg sync.WaitGroup
	wg.Go(rs.read)
	wg.Go(rs.ping)
	why := rs.start()
	if why == nil {
		why = rs.loop()
	}
	rs.stopReply(true)
	cancel()
	rs.closeWith(*why)
	wg.Wait()
	if why.code != noCloseFrame {
		linger(rs.ws.UnderlyingConn())
	}
}

// Closing a socket whose input holds unread bytes makes the kernel answer
// with a reset, which can destroy the close frame just sent before the
// peer reads it (a peer still sending: a flood, pings, a prompt in
// flight); the peer would see an abnormal closure instead of the reason.
// So after its close frame the server reads and drops what still comes,
// until the peer closes its end, for at most closeLinger and lingerBytes.
const (
	closeLinger = time.Second
	lingerBytes = 64 << 10
)

func linger(c net.Conn) {
	if err := c.SetReadDeadline(time.Now().Add(closeLinger)); err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(c, lingerBytes))
}

// start loads the call. A call the store does not know yet is created
// from the setup message; a deleted one ends the session at once.
func (rs *relaySession) start() *closeReason {
	ctx, cancel := context.WithTimeout(rs.ctx, rs.s.cfg.RequestTimeout)
	defer cancel()
	call, err := rs.s.calls.GetCall(ctx, rs.callSID)
	switch {
	case err == nil:
		rs.call, rs.known = call, true
		rs.armResume()
	case errors.Is(err, storage.ErrNotFound):
		// Created on setup.
	case errors.Is(err, storage.ErrGone):
		rs.sendEnd(handoff{Reason: handoffGone})
	default:
		rs.log.Error("relay: cannot load the call", "err", err.Error())
		return &closeStore
	}
	rs.log.Info("relay session open")
	return nil
}

// loop handles events until the socket must close, and says why.
func (rs *relaySession) loop() *closeReason {
	awayc := rs.away
	for {
		if rs.cur == nil && rs.leaving {
			return rs.drainReason()
		}
		var done <-chan replyResult
		if rs.cur != nil {
			done = rs.cur.done
		}
		var endc, resumec, leavec <-chan time.Time
		if rs.endTimer != nil {
			endc = rs.endTimer.C
		}
		if rs.resumeTimer != nil {
			resumec = rs.resumeTimer.C
		}
		if rs.leaveTimer != nil {
			leavec = rs.leaveTimer.C
		}
		select {
		case ev, ok := <-rs.events:
			if !ok {
				r := rs.readErr
				return &r
			}
			if why := rs.handle(ev); why != nil {
				return why
			}
		case res := <-done:
			rs.finishReply(res)
		case <-awayc:
			rs.leaving = true
			awayc = nil
			if rs.cur != nil {
				rs.leaveTimer = time.NewTimer(rs.s.relay.cfg.DrainTalkWait)
			}
		case <-endc:
			return &closeEnd
		case <-resumec:
			if why := rs.resume(); why != nil {
				return why
			}
		case <-rs.drop:
			return rs.drainReason()
		case <-leavec:
			// The reply did not finish in time: it is cut, and the
			// instance that takes the socket over answers the turn again.
			rs.log.Warn("relay: draining; the reply in flight did not finish in time and is cut")
			return rs.drainReason()
		}
	}
}

// read turns frames into events, enforcing the size, rate and shape of
// what a peer may send; the first violation ends the session.
func (rs *relaySession) read() {
	defer close(rs.events)
	cfg := rs.s.relay.cfg
	bucket := newTokenBucket(float64(cfg.MaxMessagesPerSecond), float64(2*cfg.MaxMessagesPerSecond))
	// Pings count against the same rate: each costs a pong. The handler
	// runs inside ReadMessage, on this goroutine.
	rs.ws.SetPingHandler(func(data string) error {
		if !bucket.take(time.Now()) {
			return errFlood
		}
		err := rs.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(cfg.WriteTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	for {
		typ, data, err := rs.ws.ReadMessage()
		if err != nil {
			rs.readErr = readFailure(err)
			if rs.writeFailed.Load() {
				rs.readErr = closeWrite
			}
			return
		}
		at := time.Now()
		rs.extendDeadline()
		if !bucket.take(at) {
			rs.readErr = closeFlood
			return
		}
		if typ != websocket.TextMessage {
			rs.readErr = closeBinary
			return
		}
		m, err := parseInbound(data)
		if err != nil {
			rs.readErr = closeBadFrame
			return
		}
		rs.s.relay.metrics.frames.WithLabelValues("in", frameLabel(m.Type)).Inc()
		select {
		case rs.events <- inbound{msg: m, at: at}:
		case <-rs.ctx.Done():
			return
		}
	}
}

// readFailure names why ReadMessage failed.
func readFailure(err error) closeReason {
	var ne net.Error
	switch {
	case errors.Is(err, errFlood):
		return closeFlood
	case errors.Is(err, websocket.ErrReadLimit):
		return closeTooLarge
	case errors.As(err, &ne) && ne.Timeout():
		return closeTimeout
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) && ce.Code == websocket.CloseInvalidFramePayloadData {
		return closeBadFrame
	}
	return closePeer
}

// ping pings the peer every PingInterval; its pongs (and its messages)
// keep the read deadline ahead.
func (rs *relaySession) ping() {
	cfg := rs.s.relay.cfg
	t := time.NewTicker(cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-rs.ctx.Done():
			return
		case <-t.C:
			if err := rs.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteTimeout)); err != nil {
				return
			}
		}
	}
}

func (rs *relaySession) extendDeadline() {
	_ = rs.ws.SetReadDeadline(time.Now().Add(rs.s.relay.cfg.PingInterval * 5 / 2))
}

// send writes one message, bounded by WriteTimeout: a peer that stops
// reading fails the write instead of holding the session.
func (rs *relaySession) send(v any, label string) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	rs.wmu.Lock()
	defer rs.wmu.Unlock()
	_ = rs.ws.SetWriteDeadline(time.Now().Add(rs.s.relay.cfg.WriteTimeout))
	if err := rs.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		// The peer stopped reading or went away: wake the reader, which
		// ends the session.
		rs.writeFailed.Store(true)
		_ = rs.ws.SetReadDeadline(time.Now())
		return err
	}
	rs.s.relay.metrics.frames.WithLabelValues("out", label).Inc()
	return nil
}

// sendEnd ends the ConversationRelay session: Twilio then posts the
// <Connect action> callback with h as HandoffData.
func (rs *relaySession) sendEnd(h handoff) {
	if rs.ended {
		return
	}
	rs.ended = true
	if a, err := rs.assistant(); err == nil && rs.known {
		h.Language, h.Voice = a.Language, a.Voice
	}
	b, _ := json.Marshal(h)
	if err := rs.send(relayEnd{Type: "end", HandoffData: string(b)}, "end"); err != nil {
		rs.log.Warn("relay: sending end failed", "err", err.Error())
	}
	rs.endTimer = time.NewTimer(endGrace)
}

// closeWith sends a close frame and closes the connection.
func (rs *relaySession) closeWith(why closeReason) {
	for _, t := range []*time.Timer{rs.endTimer, rs.resumeTimer, rs.leaveTimer} {
		if t != nil {
			t.Stop()
		}
	}
	rs.s.relay.metrics.closed.WithLabelValues(why.reason).Inc()
	level := slog.LevelInfo
	switch why.reason {
	case closePeer.reason, closeEnd.reason, "draining":
	default:
		level = slog.LevelWarn
	}
	rs.log.Log(context.Background(), level, "relay session closed", "reason", why.reason, "prompts", rs.prompts)
	if why.code != noCloseFrame {
		_ = rs.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(why.code, why.reason), time.Now().Add(time.Second))
	}
	_ = rs.ws.Close()
	// fasthttp closes a hijacked connection only once the handler returns
	// (its Close is a no-op): wake the reader so that it does.
	_ = rs.ws.SetReadDeadline(time.Now())
}

// goAway asks the session to close once its reply in flight is done.
func (rs *relaySession) goAway() {
	rs.awayOnce.Do(func() { close(rs.away) })
}

// tokenBucket bounds a message rate with a burst.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newTokenBucket(rate, burst float64) *tokenBucket {
	return &tokenBucket{rate: rate, burst: burst, tokens: burst}
}

func (b *tokenBucket) take(now time.Time) bool {
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
