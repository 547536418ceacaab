package assistant

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"switchboard/storage"
)

// FillerDelay is how long a tool may run in a streamed call before the
// caller hears Filler: silence longer than that sounds like a dropped line.
const FillerDelay = 700 * time.Millisecond

// Filler is said while a slow tool runs.
const Filler = "One moment, please."

// streamWithTools streams a turn of an assistant that has tools or
// transfer targets. Each model request of the turn (a round) streams: its
// text is said as it arrives while its tool calls are gathered; once it
// ends, its business tools run as replyWithTools runs them (validated
// against their schema, signed, each within its timeout and cut short so
// the model keeps time to answer, at most storage.MaxToolCalls over the
// turn and maxToolRounds rounds that call tools), Filler is said if one is
// slow, and the next round streams the model's answer with their results.
// A transfer_call ends the turn with the transfer once the round's words
// (or a sentence saying it) are said; end_call ends it with its farewell.
// A round's attempts are retried, as Stream's are, only while the round
// has said nothing.
func (r *Resilient) streamWithTools(ctx context.Context, sp StreamProvider, c Conversation, cs callSettings, req ChatRequest, sink Sink) (StreamReply, error) {
	model := r.modelOf(req)

	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.TurnTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	v := &voice{sink: sink}
	shaper := NewSpeechStream(cs.maxReplyChars, v.say)
	var calls []storage.ToolCall
	var in, out int64
	attempts := 0
	tokened := false
	reply := func() StreamReply { return StreamReply{Text: v.text(), ToolCalls: calls} }
	ok := func(sr StreamReply, err error) (StreamReply, error) {
		r.record(ctx, model, "stream", c.CallSID, OutcomeOK, start, attempts, in, out, nil)
		return sr, err
	}
	for round := 0; ; round++ {
		if round == maxToolRounds {
			req.Tools = nil
		}
		before := v.length()
		var resp StreamResponse
		for attempt := 1; ; attempt++ {
			attempts++
			v.spaceNext()
			actx, acancel := context.WithCancel(ctx)
			// The attempt's timer bounds the wait for the first token only.
			first := time.AfterFunc(r.cfg.AttemptTimeout, acancel)
			started := false
			var err error
			resp, err = sp.ChatStream(actx, req, func(delta string) error {
				if !started {
					started = true
					if !first.Stop() {
						return context.DeadlineExceeded
					}
					if !tokened {
						tokened = true
						if sink.FirstToken != nil {
							sink.FirstToken(time.Now())
						}
					}
				}
				if delta == "" {
					return nil
				}
				return shaper.Write(delta)
			})
			timedOut := !first.Stop() && !started
			acancel()
			in, out = in+resp.TokensIn, out+resp.TokensOut
			if errors.Is(err, errStopped) {
				// The reply reached its length limit mid-round (which
				// ended the request): the turn ends with what was said.
				return ok(reply(), nil)
			}
			if err == nil {
				err = shaper.Close()
			}
			if errors.Is(err, errStopped) {
				err = nil
			}
			if err == nil && !resp.EndCall && len(resp.Tools) == 0 && v.length() == before {
				err = &MalformedError{What: "reply has no speakable text"}
			}
			if err == nil {
				break
			}
			if timedOut && ctx.Err() == nil {
				err = context.DeadlineExceeded
			}
			if sinkStopped(err) {
				// The caller stopped listening.
				return ok(reply(), err)
			}
			if v.length() > before {
				// The caller heard part of the round: no retry.
				if ctx.Err() != nil {
					return reply(), r.expired(ctx, model, "stream", c.CallSID, start, deadline, attempts, in, out, err)
				}
				cl := classify(err, r.cfg.AttemptTimeout)
				return reply(), r.failed(ctx, model, "stream", c.CallSID, cl.outcome, cl.msg+" mid-reply", start, attempts, in, out, err)
			}
			if ctx.Err() != nil {
				return reply(), r.expired(ctx, model, "stream", c.CallSID, start, deadline, attempts, in, out, err)
			}
			cl := classify(err, r.cfg.AttemptTimeout)
			if wait, ok := cl.pause(attempt, deadline); ok && sleep(ctx, wait) {
				shaper.discard()
				continue
			}
			return reply(), r.failed(ctx, model, "stream", c.CallSID, cl.outcome, cl.after(attempt), start, attempts, in, out, err)
		}

		said := v.length() > before
		if resp.EndCall {
			sr := reply()
			sr.EndCall, sr.Farewell = true, Speakable(resp.Farewell, cs.maxReplyChars)
			if sr.Farewell == "" {
				sr.Farewell = cs.goodbye
			}
			return ok(sr, nil)
		}
		if len(resp.Tools) == 0 {
			return ok(reply(), nil)
		}
		if round >= maxToolRounds {
			// Tools were no longer offered: a server that calls them anyway
			// has its words said, or the turn fails, rather than more
			// rounds until the deadline.
			if said {
				return ok(reply(), nil)
			}
			err := &ModelError{Kind: storage.ErrUnavailable, Outcome: OutcomeMalformed, Msg: "the model kept calling tools"}
			r.record(ctx, model, "stream", c.CallSID, OutcomeMalformed, start, attempts, in, out, err)
			return reply(), err
		}
		tr, made, results := r.roundTools(ctx, c, deadline, resp.Tools, len(calls), v.around)
		if tr != nil {
			if !said {
				v.spaceNext()
				err := shaper.Write(holdFor(tr))
				if err == nil {
					err = shaper.Close()
				}
				if err != nil && !errors.Is(err, errStopped) {
					return ok(reply(), err)
				}
			}
			sr := reply()
			sr.Transfer = tr
			return ok(sr, nil)
		}
		calls = append(calls, made...)
		if err := v.failed(); err != nil {
			return ok(reply(), err)
		}
		if ctx.Err() != nil {
			return reply(), r.expired(ctx, model, "stream", c.CallSID, start, deadline, attempts, in, out, ctx.Err())
		}
		req.Messages = append(req.Messages,
			Message{Role: storage.RoleAssistant, Text: resp.Text, Calls: resp.Tools},
			Message{Role: storage.RoleCaller, Results: results})
	}
}

// voice speaks one streamed turn with tools: the shaped text of each
// round and the filler, one piece at a time and in order, with a space
// between pieces from different rounds.
type voice struct {
	sink Sink

	mu     sync.Mutex
	said   strings.Builder
	space  bool  // the next piece starts a round after words: space it
	filled bool  // the filler was said (once per turn)
	err    error // the sink's, once it failed
}

// say hands text to the sink; the shaper's emit.
func (v *voice) say(text string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.sayLocked(text)
}

func (v *voice) sayLocked(text string) error {
	if v.err != nil {
		return v.err
	}
	if text == "" {
		return nil
	}
	if v.space && !strings.HasPrefix(text, " ") {
		text = " " + text
	}
	if err := v.sink.Text(text); err != nil {
		v.err = err
		return err
	}
	v.space = false
	v.said.WriteString(text)
	return nil
}

// spaceNext marks the start of a round (or of its retry): its first piece
// follows what was said with a space.
func (v *voice) spaceNext() {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.said.String()
	v.space = s != "" && !strings.HasSuffix(s, " ")
}

// length is how many bytes were said.
func (v *voice) length() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.said.Len()
}

// text is everything said, joined.
func (v *voice) text() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return strings.TrimSpace(v.said.String())
}

// failed is the sink's error as a *SinkError, once it failed.
func (v *voice) failed() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.err == nil {
		return nil
	}
	return &SinkError{Err: v.err}
}

// around brackets each tool request (see runTools): a request still
// running after FillerDelay has the caller hear Filler, once per turn. The
// filler is over by the time the request's bracket closes, so it never
// cuts into the model's next words.
func (v *voice) around() func() {
	done := make(chan struct{})
	t := time.AfterFunc(FillerDelay, func() {
		defer close(done)
		v.mu.Lock()
		defer v.mu.Unlock()
		if v.filled {
			return
		}
		v.filled = true
		v.space = v.said.Len() > 0 && !strings.HasSuffix(v.said.String(), " ")
		_ = v.sayLocked(Filler + " ")
	})
	return func() {
		if !t.Stop() {
			<-done
		}
	}
}
