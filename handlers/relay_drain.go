package handlers

import (
	"context"
	"time"

	"github.com/fasthttp/websocket"
)

// Draining streamed calls. An instance leaves service (scale-in, instance
// refresh, deploy) on SIGTERM or, earlier, when the instance metadata says
// its target is being deregistered (runtime/lifecycle). Its sockets must
// move before the load balancer cuts them at the end of the deregistration
// delay.
//
// With applicationReconnect, Twilio reconnects a socket that drops
// "unexpectedly" and replays what it buffered (changelog 2026-10-28,
// https://www.twilio.com/en-us/changelog/conversation-relay--dynamic-configuration--application-reconnect).
// The changelog names no close codes, and a close the application sends
// on purpose may be read as the application ending the session, which
// hands the call to <Connect action> instead. So by default (RELAY_DRAIN_CLOSE=drop) a draining
// socket ends the way a lost instance does: the connection is closed
// without a close frame. going_away (1001) and service_restart (1012)
// are there for operators who verify Twilio reconnects on those. Either
// way the call survives: a reconnection lands on another instance (the
// draining one refuses upgrades), and a session Twilio ends instead posts
// <Connect action>, which continues the call with <Gather> (relay_action.go).
//
// Each socket finishes the reply in progress first (the talk cycle) when
// it can, within RELAY_DRAIN_TALK_WAIT; a reply cut by the deadline is
// answered again by the next socket (relay_takeover.go).
//
// Without applicationReconnect a dropped socket cannot reconnect, so the
// instance keeps its calls and waits for them to end, up to
// RELAY_DRAIN_CALL_WAIT, saying so in its logs and in
// switchboard_relay_drain_waiting_calls; the calls still open then are
// dropped, and continue with <Gather> through <Connect action>.

// RELAY_DRAIN_CLOSE values.
const (
	drainDrop           = "drop"
	drainGoingAway      = "going_away"
	drainServiceRestart = "service_restart"
)

// noCloseFrame marks a closeReason that closes the connection without a
// close frame.
const noCloseFrame = -1

// drainReason is how a draining socket closes (RELAY_DRAIN_CLOSE).
func (rs *relaySession) drainReason() *closeReason {
	switch rs.s.relay.cfg.DrainClose {
	case drainGoingAway:
		return &closeReason{websocket.CloseGoingAway, "draining"}
	case drainServiceRestart:
		return &closeReason{websocket.CloseServiceRestart, "draining"}
	}
	return &closeReason{noCloseFrame, "draining"}
}

// closeRelays starts the drain of every live socket: with
// applicationReconnect each closes once its reply is done; without it
// they are left to end and counted.
func (s *Server) closeRelays() {
	s.relay.mu.Lock()
	defer s.relay.mu.Unlock()
	n := len(s.relay.sessions)
	if !s.relay.cfg.ApplicationReconnect {
		s.relay.metrics.drainWaiting.Set(float64(n))
		if n > 0 {
			s.log.Warn("draining: streamed calls cannot reconnect elsewhere (RELAY_APPLICATION_RECONNECT=false); waiting for them to end",
				"calls", n, "bound", s.relay.cfg.DrainCallWait.String())
		}
		return
	}
	if n > 0 {
		s.log.Info("draining: moving streamed calls to other instances", "calls", n, "close", s.relay.cfg.DrainClose)
	}
	for rs := range s.relay.sessions {
		rs.goAway()
	}
}

// RelaySessions is the number of streamed calls this instance holds.
func (s *Server) RelaySessions() int { return int(s.relay.count.Load()) }

// WaitRelays waits, once the drain has begun, for the streamed calls to
// leave: within RELAY_DRAIN_TALK_WAIT plus a second with
// applicationReconnect, RELAY_DRAIN_CALL_WAIT without; or until ctx ends.
// The sockets still open then are dropped. It returns how many were.
func (s *Server) WaitRelays(ctx context.Context) int {
	bound := s.relay.cfg.DrainTalkWait + time.Second
	if !s.relay.cfg.ApplicationReconnect {
		bound = s.relay.cfg.DrainCallWait
	}
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	logged := time.Now()
	for s.relay.count.Load() > 0 {
		select {
		case <-ctx.Done():
			return s.DropRelays()
		case <-tick.C:
		}
		n := s.relay.count.Load()
		if !s.relay.cfg.ApplicationReconnect {
			s.relay.metrics.drainWaiting.Set(float64(n))
			if time.Since(logged) >= 30*time.Second {
				logged = time.Now()
				s.log.Info("draining: still waiting for streamed calls to end", "calls", n)
			}
		}
	}
	s.relay.metrics.drainWaiting.Set(0)
	return 0
}

// DropRelays drops every socket now, reply in flight or not (as a lost
// instance would; a drain whose time is up does it), and waits
// briefly for their sessions to end. It returns how many there were.
func (s *Server) DropRelays() int {
	s.relay.mu.Lock()
	n := len(s.relay.sessions)
	for rs := range s.relay.sessions {
		rs.dropNow()
	}
	s.relay.mu.Unlock()
	if n > 0 {
		s.log.Warn("draining: dropped the streamed calls still open", "calls", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.relay.count.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s.relay.metrics.drainWaiting.Set(0)
	return n
}

// dropNow ends the session at once, as draining does.
func (rs *relaySession) dropNow() {
	rs.dropOnce.Do(func() { close(rs.drop) })
}

// twilioError counts an error message from Twilio; after
// RELAY_FALLBACK_AFTER_ERRORS of them the session ends and the call
// continues with <Gather> (relay_action.go).
func (rs *relaySession) twilioError() {
	rs.twilioErrors++
	if rs.twilioErrors < rs.s.relay.cfg.FallbackAfterErrors || rs.ended {
		return
	}
	rs.log.Warn("relay: Twilio keeps reporting errors; handing the call to <Gather>", "errors", rs.twilioErrors)
	rs.s.relay.metrics.takeovers.WithLabelValues("fallback").Inc()
	rs.sendEnd(handoff{Reason: handoffFallback})
}
