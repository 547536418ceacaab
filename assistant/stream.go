package assistant

import (
	"context"
	"errors"
	"time"

	"switchboard/storage"
)

// Streamer is an Assistant that can also answer token by token, for
// streamed (ConversationRelay) calls: the caller hears the start of the
// reply while the model is still writing the rest.
type Streamer interface {
	Assistant
	// Stream answers the caller's last turn like Reply, handing speakable
	// text to sink.Text as soon as it is known. A Text error (the caller
	// interrupted, the socket closed) stops the stream: the provider's
	// request is cancelled and Stream returns what was emitted with that
	// error. Errors before any text are *ModelError, as Reply's.
	Stream(ctx context.Context, c Conversation, sink Sink) (StreamReply, error)
}

// Sink receives a streamed reply.
type Sink struct {
	// Text gets each piece of speakable text in order.
	Text func(text string) error
	// FirstToken, when set, is called once, when the model's first token
	// arrives (before any shaping), to measure the provider's latency.
	FirstToken func(at time.Time)
}

// StreamReply is what a stream said and whether the call ends.
type StreamReply struct {
	// Text is everything handed to Sink.Text, joined.
	Text string
	// EndCall: the assistant ends the call; Farewell (never streamed, as
	// the call's end cuts speech short) is said before hanging up.
	EndCall  bool
	Farewell string
	// ToolCalls are the business tools called to answer.
	ToolCalls []storage.ToolCall
	// Transfer: the caller is transferred once Text is said.
	Transfer *TransferRequest
}

// StreamProvider is a Provider that can stream: ChatStream makes one
// attempt, calling onText with each text delta as it arrives; an onText
// error cancels the request and is returned. A model that starts its
// answer with a tool call rather than text has onText called once with ""
// then, so that the wait for its first token ends. Failures are reported
// as Chat's are.
type StreamProvider interface {
	Provider
	ChatStream(ctx context.Context, req ChatRequest, onText func(delta string) error) (StreamResponse, error)
}

// StreamResponse is a model's streamed answer once it is complete.
type StreamResponse struct {
	// Text is every delta joined.
	Text string
	// EndCall: the model called end_call; Farewell is its argument.
	EndCall  bool
	Farewell string
	// Tools are the other tools the model called, their arguments whole.
	Tools     []ToolUse
	TokensIn  int64
	TokensOut int64
}

// errStopped ends a stream whose speakable text reached MaxReplyChars.
var errStopped = errors.New("reply reached its length limit")

// Stream streams the model's answer through the speech shaper. Attempts are
// retried like Reply's only while nothing has been said: once the caller
// has heard part of a reply, a second attempt would repeat or contradict
// it. ASSISTANT_ATTEMPT_TIMEOUT bounds the wait for the first token, the
// turn deadline the whole reply. An assistant with tools or transfer
// targets streams each model request of the turn (streamWithTools). A
// provider that cannot stream answers in one piece.
func (r *Resilient) Stream(ctx context.Context, c Conversation, sink Sink) (StreamReply, error) {
	sp, ok := r.p.(StreamProvider)
	if !ok {
		return streamWhole(ctx, r, c, sink)
	}
	req, cs, err := r.turnRequest(c)
	if err != nil {
		return StreamReply{}, err
	}
	if len(req.Tools) > 0 {
		return r.streamWithTools(ctx, sp, c, cs, req, sink)
	}
	model := r.modelOf(req)

	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.TurnTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	shaper := NewSpeechStream(cs.maxReplyChars, sink.Text)
	var in, out int64
	for attempt := 1; ; attempt++ {
		actx, acancel := context.WithCancel(ctx)
		// The attempt's timer bounds the wait for the first token only.
		first := time.AfterFunc(r.cfg.AttemptTimeout, acancel)
		started := false
		resp, err := sp.ChatStream(actx, req, func(delta string) error {
			if !started {
				started = true
				if !first.Stop() {
					return context.DeadlineExceeded
				}
				if sink.FirstToken != nil {
					sink.FirstToken(time.Now())
				}
			}
			return shaper.Write(delta)
		})
		timedOut := !first.Stop() && !started
		acancel()
		in, out = in+resp.TokensIn, out+resp.TokensOut
		if errors.Is(err, errStopped) {
			err = nil
		}
		if err == nil {
			err = shaper.Close()
		}
		if err == nil {
			reply := StreamReply{Text: shaper.Said(), EndCall: resp.EndCall}
			if resp.EndCall {
				reply.Farewell = Speakable(resp.Farewell, cs.maxReplyChars)
				if reply.Farewell == "" {
					reply.Farewell = cs.goodbye
				}
			} else if reply.Text == "" {
				err = &MalformedError{What: "reply has no speakable text"}
			}
			if err == nil {
				r.record(ctx, model, "stream", c.CallSID, OutcomeOK, start, attempt, in, out, nil)
				return reply, nil
			}
		}
		if timedOut && ctx.Err() == nil {
			err = context.DeadlineExceeded
		}
		if shaper.Said() != "" || sinkStopped(err) {
			// The caller heard part of it (or stopped listening): no retry.
			reply := StreamReply{Text: shaper.Said()}
			if sinkStopped(err) {
				r.record(ctx, model, "stream", c.CallSID, OutcomeOK, start, attempt, in, out, nil)
				return reply, err
			}
			if ctx.Err() != nil {
				return reply, r.expired(ctx, model, "stream", c.CallSID, start, deadline, attempt, in, out, err)
			}
			v := classify(err, r.cfg.AttemptTimeout)
			return reply, r.failed(ctx, model, "stream", c.CallSID, v.outcome, v.msg+" mid-reply", start, attempt, in, out, err)
		}
		if ctx.Err() != nil {
			return StreamReply{}, r.expired(ctx, model, "stream", c.CallSID, start, deadline, attempt, in, out, err)
		}
		v := classify(err, r.cfg.AttemptTimeout)
		if wait, ok := v.pause(attempt, deadline); ok && sleep(ctx, wait) {
			continue
		}
		return StreamReply{}, r.failed(ctx, model, "stream", c.CallSID, v.outcome, v.after(attempt), start, attempt, in, out, err)
	}
}

// SinkError marks an error returned by Sink.Text, so that Stream can tell
// "the caller stopped listening" from a provider failure.
type SinkError struct{ Err error }

// Error is the sink's error.
func (e *SinkError) Error() string { return e.Err.Error() }

// Unwrap gives the sink's error.
func (e *SinkError) Unwrap() error { return e.Err }

func sinkStopped(err error) bool {
	var se *SinkError
	return errors.As(err, &se)
}

// streamWhole serves Stream for a provider that cannot stream: the whole
// reply, shaped, as one piece of text.
func streamWhole(ctx context.Context, r *Resilient, c Conversation, sink Sink) (StreamReply, error) {
	reply, err := r.Reply(ctx, c)
	if err != nil {
		return StreamReply{}, err
	}
	if sink.FirstToken != nil {
		sink.FirstToken(time.Now())
	}
	if reply.EndCall {
		return StreamReply{EndCall: true, Farewell: reply.Text}, nil
	}
	if err := sink.Text(reply.Text); err != nil {
		return StreamReply{}, &SinkError{Err: err}
	}
	return StreamReply{Text: reply.Text}, nil
}
