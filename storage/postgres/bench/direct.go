package main

import (
	"context"
	"time"

	"switchboard/storage"
)

// directStatus makes the store calls of one status callback, without HTTP:
// what the webhook would cost with no server in front of the store.
func directStatus(s storage.Store, space int) func(client, i int) error {
	return func(client, i int) error {
		_, err := s.ApplyStatus(context.Background(), callSID(space, client, i), storage.StatusEvent{
			Status: storage.StatusCompleted, At: time.Now(), Sequence: 2, Duration: 42,
		})
		return err
	}
}

// directTurn makes the store calls of one speech turn, without HTTP or
// the assistant: the call read, then the caller's and the answer's turns.
func directTurn(s storage.Store, space int) func(client, i int) error {
	return func(client, i int) error {
		ctx := context.Background()
		sid, n := callSID(space, client, i/turnsPerCall), i%turnsPerCall+1
		if _, err := s.GetCall(ctx, sid); err != nil {
			return err
		}
		if _, _, err := s.AddTurn(ctx, storage.Turn{CallSID: sid, Number: n, Role: storage.RoleCaller, Text: "Where are you located?", Confidence: 0.91}); err != nil {
			return err
		}
		_, _, err := s.AddTurn(ctx, storage.Turn{CallSID: sid, Number: n, Role: storage.RoleAssistant,
			Text: "You can find us at 100 Main Street, next to the central station.", Confidence: -1})
		return err
	}
}
