package assistant

import (
	"context"
	"strings"
	"sync"
	"time"

	"switchboard/storage"
)

var _ Streamer = (*Scripted)(nil)

// DefaultWordDelay paces the scripted assistant's streamed words: about a
// model's speed, so a streamed call in development looks like one with a
// model, barge-in included.
const DefaultWordDelay = 60 * time.Millisecond

// Stream says the scripted reply word by word, WordDelay apart. A goodbye
// is the farewell of an ended call, not streamed. A business tool that
// runs longer than FillerDelay has the caller hear Filler meanwhile, as
// with a model.
func (s *Scripted) Stream(ctx context.Context, c Conversation, sink Sink) (StreamReply, error) {
	var said strings.Builder
	var mu sync.Mutex // orders the filler before the reply
	var fillErr error
	filled := false
	around := func() func() {
		t := time.AfterFunc(FillerDelay, func() {
			mu.Lock()
			defer mu.Unlock()
			if filled {
				return
			}
			filled = true
			if err := sink.Text(Filler + " "); err != nil {
				fillErr = &SinkError{Err: err}
				return
			}
			said.WriteString(Filler + " ")
		})
		return func() { t.Stop() }
	}
	reply, err := s.reply(ctx, c, around)
	mu.Lock()
	filled = true
	mu.Unlock()
	if err == nil {
		err = fillErr
	}
	if err != nil {
		return StreamReply{Text: strings.TrimSpace(said.String()), ToolCalls: reply.ToolCalls}, err
	}
	if sink.FirstToken != nil {
		sink.FirstToken(time.Now())
	}
	if reply.EndCall {
		return StreamReply{Text: strings.TrimSpace(said.String()), EndCall: true, Farewell: reply.Text, ToolCalls: reply.ToolCalls}, nil
	}
	words := strings.Fields(reply.Text)
	for i, w := range words {
		if i > 0 && s.WordDelay > 0 {
			t := time.NewTimer(s.WordDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return StreamReply{Text: strings.TrimSpace(said.String()), ToolCalls: reply.ToolCalls},
					storage.Wrap(storage.ErrUnavailable, ctx.Err(), "assistant gave up")
			case <-t.C:
			}
		}
		if i < len(words)-1 {
			w += " "
		}
		if err := sink.Text(w); err != nil {
			return StreamReply{Text: strings.TrimSpace(said.String()), ToolCalls: reply.ToolCalls}, &SinkError{Err: err}
		}
		said.WriteString(w)
	}
	return StreamReply{Text: strings.TrimSpace(said.String()), ToolCalls: reply.ToolCalls, Transfer: reply.Transfer}, nil
}
