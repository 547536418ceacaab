package main

import (
	"context"
	"time"

	"switchboard/storage"
)

// newCall is the call a webhook of the seeded call sid reports, as the
// handlers read it from the form (see callOf).
func newCall(sid string, status storage.CallStatus) storage.NewCall {
	c := callOf(sid)
	return storage.NewCall{SID: c.CallSID, AccountSID: c.AccountSID, From: c.From, To: c.To, Direction: "inbound", Status: status, At: time.Now()}
}

// directStatus makes the store call of one status callback, without HTTP:
// what the webhook would cost with no server in front of the store.
func directStatus(s storage.Store, space int) func(client, i int) error {
	return func(client, i int) error {
		_, err := s.ApplyStatus(context.Background(), newCall(callSID(space, client, i), storage.StatusCompleted), storage.StatusEvent{
			Status: storage.StatusCompleted, At: time.Now(), Sequence: 2, Duration: 42,
		})
		return err
	}
}

// directTurn makes the store calls of one speech turn, without HTTP or
// the assistant: the caller's turn begun (stored, with the conversation
// read back), then the answer's turn.
func directTurn(s storage.Store, space int) func(client, i int) error {
	return func(client, i int) error {
		ctx := context.Background()
		sid, n := callSID(space, client, i/turnsPerCall), i%turnsPerCall+1
		if _, err := s.BeginTurn(ctx, newCall(sid, storage.StatusInProgress), storage.Turn{Number: n, Text: "Where are you located?", Confidence: 0.91}); err != nil {
			return err
		}
		_, _, err := s.AddTurn(ctx, storage.Turn{CallSID: sid, Number: n, Role: storage.RoleAssistant,
			Text: "You can find us at 100 Main Street, next to the central station.", Confidence: -1})
		return err
	}
}
