package handlers

import (
	"time"

	"switchboard/storage"
)

// Takeover. A streamed call's socket may reopen on any instance: Twilio
// reconnects a dropped socket (applicationReconnect) through the load
// balancer, which picks whichever instance it likes. The conversation is in
// the store, so the instance that takes the socket loads the call's turns
// when it opens (start) and carries on with the numbering (see the
// idempotency rule in relay_turns.go for replayed prompts).
//
// The reply cut by a drop. Twilio speaks the text frames it received; which
// of them reached the caller's ear before the drop nobody knows. The rule:
//   - A reply whose socket is lost before the reply was finished is not
//     stored. The caller's turn stays unanswered in the store, exactly as
//     when the instance serving it died mid-reply.
//   - A socket that opens on a call whose latest caller turn is unanswered
//     answers it: it waits RELAY_RESUME_AFTER for the events Twilio replays
//     after a reconnection; a replay of that same utterance is answered as
//     that turn, once; a new utterance is a new turn (the caller moved on
//     and the model sees both); if nothing comes, the socket answers the
//     unanswered turn by itself.
//
// So the transcript holds each reply once, as it was finally said in full;
// the caller hears the start of a cut reply again, never the end of it
// twice. Sockets that race on one call are settled by the store's
// one-row-per-(call, number, role) rule: the first stored reply wins.

// pendingTurn is the call's latest caller turn when no assistant turn
// answers it and the call is still going.
func pendingTurn(call storage.Call) (int, bool) {
	if call.Status.Terminal() {
		return 0, false
	}
	caller, answered := -1, -1
	for _, t := range call.Turns {
		switch t.Role {
		case storage.RoleCaller:
			caller = max(caller, t.Number)
		case storage.RoleAssistant:
			if t.EndsCall || t.Transfer != nil {
				return 0, false
			}
			answered = max(answered, t.Number)
		}
	}
	if caller >= 1 && caller > answered {
		return caller, true
	}
	return 0, false
}

// armResume starts the wait for replayed events when the socket takes over
// a call with an unanswered caller turn.
func (rs *relaySession) armResume() {
	if _, ok := pendingTurn(rs.call); !ok || rs.ended {
		return
	}
	rs.resumeTimer = time.NewTimer(rs.s.relay.cfg.ResumeAfter)
}

// stopResume cancels the wait: a prompt arrived.
func (rs *relaySession) stopResume() {
	if rs.resumeTimer != nil {
		rs.resumeTimer.Stop()
		rs.resumeTimer = nil
	}
}

// resume answers the unanswered caller turn when Twilio replayed nothing.
func (rs *relaySession) resume() *closeReason {
	rs.resumeTimer = nil
	n, ok := pendingTurn(rs.call)
	if !ok || rs.prompts > 0 || rs.cur != nil || rs.ended {
		return nil
	}
	a, err := rs.assistant()
	if err != nil {
		rs.log.Error("relay: cannot read the call's assistant version", "err", err.Error())
		return &closeStore
	}
	rs.log.Info("relay: answering the caller turn left unanswered by the previous socket", "turn", n)
	rs.s.relay.metrics.takeovers.WithLabelValues("resumed").Inc()
	// The words as said are gone with the previous socket: the model gets
	// the caller turn as stored.
	rs.startReply(n, time.Now(), a, "")
	rs.cur.resumed = true
	rs.resumedTurn = n
	return nil
}

// replaysResumed reports whether a prompt is Twilio's replay of the caller
// turn the socket answered, or is answering, by itself (resume): it needs
// no second answer, and the caller must not hear the first one twice.
func (rs *relaySession) replaysResumed(text string) bool {
	if rs.resumedTurn == 0 || rs.prompts > 0 {
		return false
	}
	t, ok := storedTurn(rs.call.Turns, rs.resumedTurn, storage.RoleCaller)
	return ok && sameUtterance(t.Text, text)
}
