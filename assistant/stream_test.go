package assistant_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"switchboard/assistant"
	"switchboard/storage"
)

func scriptedConv(said string) assistant.Conversation {
	return assistant.Conversation{CallSID: "CA" + strings.Repeat("b", 32), Language: "en-US", Turns: []storage.Turn{
		{Number: 0, Role: storage.RoleAssistant, Text: "Hello."},
		{Number: 1, Role: storage.RoleCaller, Text: said},
	}}
}

func TestScriptedStreamsWordByWord(t *testing.T) {
	s := assistant.NewScripted()
	s.WordDelay = 5 * time.Millisecond
	var pieces []string
	var at []time.Time
	reply, err := s.Stream(context.Background(), scriptedConv("What are your opening hours?"), assistant.Sink{
		Text: func(p string) error { pieces, at = append(pieces, p), append(at, time.Now()); return nil },
	})
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	want, _ := s.Reply(context.Background(), scriptedConv("What are your opening hours?"))
	if reply.Text != want.Text || strings.Join(pieces, "") != want.Text {
		t.Errorf("streamed %q (reply %q), want Reply's text %q", strings.Join(pieces, ""), reply.Text, want.Text)
	}
	if len(pieces) != len(strings.Fields(want.Text)) {
		t.Errorf("%d pieces, want one per word", len(pieces))
	}
	if len(at) > 1 && at[len(at)-1].Sub(at[0]) < time.Duration(len(at)-1)*s.WordDelay {
		t.Errorf("words came %s apart in all, want at least WordDelay between each", at[len(at)-1].Sub(at[0]))
	}
}

func TestScriptedStreamGoodbyeIsAFarewell(t *testing.T) {
	s := assistant.NewScripted()
	reply, err := s.Stream(context.Background(), scriptedConv("No thanks, goodbye"), assistant.Sink{
		Text: func(p string) error { t.Errorf("streamed %q; a farewell is not streamed", p); return nil },
	})
	if err != nil || !reply.EndCall || reply.Farewell != s.Goodbye {
		t.Fatalf("Stream = %+v, %v; want EndCall with the goodbye as farewell", reply, err)
	}
}

func TestScriptedStreamStopsWhenTheSinkDoes(t *testing.T) {
	s := assistant.NewScripted()
	s.WordDelay = 0
	stop := errors.New("interrupted")
	n := 0
	reply, err := s.Stream(context.Background(), scriptedConv("hours"), assistant.Sink{
		Text: func(string) error {
			if n == 2 {
				return stop
			}
			n++
			return nil
		},
	})
	if !errors.Is(err, stop) || reply.Text != "We are" {
		t.Fatalf("Stream = %+v, %v; want the two words said and the sink's error", reply, err)
	}
}

func TestScriptedStreamHonoursCancellation(t *testing.T) {
	s := assistant.NewScripted()
	s.WordDelay = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Stream(ctx, scriptedConv("hours"), assistant.Sink{Text: func(string) error { return nil }})
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("Stream after cancel = %v, want ErrUnavailable", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stream did not return after its context was cancelled")
	}
}

func TestSpeechStreamMatchesSpeakableOnWholeWords(t *testing.T) {
	for name, tc := range map[string]struct {
		deltas []string
		want   string
	}{
		"PlainSentences":   {[]string{"We open", " at nine.", " See", " you!"}, "We open at nine. See you!"},
		"Emphasis":         {[]string{"It is **very", " good** and _fine_ now."}, "It is very good and fine now."},
		"LinkAcrossDeltas": {[]string{"Read [the ", "menu](https://ex", "ample.com) today."}, "Read the menu today."},
		"ListItems":        {[]string{"Options:\n", "1. Pizza\n", "2. Pasta\n"}, "Options: Pizza. Pasta."},
		"CodeFence":        {[]string{"Here:\n```go\nfmt.Println()\n```\n", "Done."}, "Here: Done."},
		"Emoji":            {[]string{"Great 👍 ", "news."}, "Great news."},
	} {
		t.Run(name, func(t *testing.T) {
			var got strings.Builder
			s := assistant.NewSpeechStream(0, func(p string) error { got.WriteString(p); return nil })
			for _, d := range tc.deltas {
				if err := s.Write(d); err != nil {
					t.Fatalf("Write(%q): %v", d, err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if s.Said() != tc.want {
				t.Errorf("Said() = %q, want %q (emitted %q)", s.Said(), tc.want, got.String())
			}
		})
	}
}

func TestSpeechStreamHoldsOnlyTheUnfinishedWord(t *testing.T) {
	var got []string
	s := assistant.NewSpeechStream(0, func(p string) error { got = append(got, p); return nil })
	_ = s.Write("Hello")
	if len(got) != 0 {
		t.Fatalf("emitted %q before the word ended", got)
	}
	_ = s.Write(" wor")
	if len(got) != 1 || got[0] != "Hello " {
		t.Fatalf("after the first space emitted %q, want [\"Hello \"]", got)
	}
}
