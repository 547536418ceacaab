package assistant

import (
	"context"
	"strings"
	"time"

	"switchboard/storage"
)

var _ Streamer = (*Scripted)(nil)

// DefaultWordDelay paces the scripted assistant's streamed words: about a
// model's speed, so a streamed call in development looks like one with a
// model, barge-in included.
const DefaultWordDelay = 60 * time.Millisecond

// Stream says the scripted reply word by word, WordDelay apart. A goodbye
// is the farewell of an ended call, not streamed.
func (s *Scripted) Stream(ctx context.Context, c Conversation, sink Sink) (StreamReply, error) {
	reply, err := s.Reply(ctx, c)
	if err != nil {
		return StreamReply{}, err
	}
	if sink.FirstToken != nil {
		sink.FirstToken(time.Now())
	}
	if reply.EndCall {
		return StreamReply{EndCall: true, Farewell: reply.Text}, nil
	}
	var said strings.Builder
	words := strings.Fields(reply.Text)
	for i, w := range words {
		if i > 0 && s.WordDelay > 0 {
			t := time.NewTimer(s.WordDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return StreamReply{Text: strings.TrimSpace(said.String())},
					storage.Wrap(storage.ErrUnavailable, ctx.Err(), "assistant gave up")
			case <-t.C:
			}
		}
		if i < len(words)-1 {
			w += " "
		}
		if err := sink.Text(w); err != nil {
			return StreamReply{Text: strings.TrimSpace(said.String())}, &SinkError{Err: err}
		}
		said.WriteString(w)
	}
	return StreamReply{Text: strings.TrimSpace(said.String())}, nil
}
