package assistant_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"switchboard/assistant"
	"switchboard/storage"
)

func conv(callerSaid ...string) assistant.Conversation {
	c := assistant.Conversation{CallSID: "CA" + strings.Repeat("a", 32), Turns: []storage.Turn{{Number: 0, Role: storage.RoleAssistant, Text: "Hello"}}}
	for i, s := range callerSaid {
		c.Turns = append(c.Turns, storage.Turn{Number: i + 1, Role: storage.RoleCaller, Text: s})
		if i < len(callerSaid)-1 {
			c.Turns = append(c.Turns, storage.Turn{Number: i + 1, Role: storage.RoleAssistant, Text: "ok"})
		}
	}
	return c
}

func TestScriptedReply(t *testing.T) {
	a := assistant.NewScripted()
	cases := []struct {
		name    string
		said    []string
		want    string
		endCall bool
	}{
		{"Hours", []string{"When are you OPEN?"}, "Monday to Friday", false},
		{"Address", []string{"Where are you located, please"}, "100 Main Street", false},
		{"NoRule", []string{"Tell me a joke"}, "I can only help with", false},
		{"WordBoundary", []string{"I'm reopening my account"}, "I can only help with", false},
		{"Goodbye", []string{"ok, bye!"}, "Goodbye", true},
		{"MaxTurns", []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, "end of what I can do", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := a.Reply(context.Background(), conv(tc.said...))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(r.Text, tc.want) || r.EndCall != tc.endCall {
				t.Errorf("Reply = %+v, want text containing %q and EndCall %v", r, tc.want, tc.endCall)
			}
			again, _ := a.Reply(context.Background(), conv(tc.said...))
			if !reflect.DeepEqual(again, r) {
				t.Errorf("not deterministic: %+v then %+v", r, again)
			}
		})
	}
	t.Run("ErrCancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := a.Reply(ctx, conv("hours")); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
	})
}

func TestScriptedSummarize(t *testing.T) {
	a := assistant.NewScripted()
	s, err := a.Summarize(context.Background(), conv("what are your hours", "can a person call me back", "bye"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Reason != "hours, a call back" || !s.FollowUp || !strings.Contains(s.Text, "3 time(s)") {
		t.Errorf("summary = %+v", s)
	}
	silent, _ := a.Summarize(context.Background(), conv())
	if silent.Outcome != "caller said nothing" || silent.FollowUp {
		t.Errorf("silent summary = %+v", silent)
	}
}

func TestScriptedSummarizeOwnRules(t *testing.T) {
	a := &assistant.Scripted{Rules: []assistant.Rule{{Keywords: []string{"pizza"}, Answer: "Yes.", Topic: "pizza"}}}
	s, err := a.Summarize(context.Background(), conv("do you sell pizza"))
	if err != nil || s.Reason != "pizza" {
		t.Fatalf("summary = %+v, %v", s, err)
	}
}
