package storagetest

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchboard/storage"
)

// What an assistant turn did besides talking: tool calls and a transfer,
// stored with the turn, and the transfer's progress written by the
// whisper and <Dial action> webhooks without ever creating a call.

func testTurnActions(t *testing.T, newStore newStoreFunc) {
	sid := callSID(1)
	child := callSID(900)
	acting := storage.Turn{CallSID: sid, Number: 1, Role: storage.RoleAssistant, Text: "Let me check, then I'll put you through.", Confidence: -1,
		ToolCalls: []storage.ToolCall{
			{ID: "call_1", Name: "order_status", Arguments: json.RawMessage(`{"order":"A-1"}`), Result: json.RawMessage(`{"status":"shipped"}`), DurationMS: 41.5},
			{ID: "call_2", Name: "order_status", Arguments: json.RawMessage(`{"order":"B-2"}`), Error: "the tool timed out after 2s", DurationMS: 2000},
		},
		Transfer: &storage.Transfer{Turn: 1, Target: "Sales", Number: "+14155550100", Mode: storage.TransferWarm,
			Summary: "The caller asks about order A-1.", Status: storage.TransferDialing, RequestedAt: t0.Add(2 * time.Second)},
		CreatedAt: t0.Add(2 * time.Second)}
	writer := func(t *testing.T, s storage.Store) storage.TransferWriter {
		t.Helper()
		w, ok := s.(storage.TransferWriter)
		if !ok {
			t.Fatal("the store does not record transfers (storage.TransferWriter)")
		}
		return w
	}

	t.Run("StoredWithTheTurn", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		got := mustAddTurn(t, s, acting)
		if diff := cmp.Diff(acting, got); diff != "" {
			t.Errorf("AddTurn (-want +got):\n%s", diff)
		}
		c := mustGetCall(t, s, sid)
		if diff := cmp.Diff([]storage.Turn{acting}, c.Turns); diff != "" {
			t.Errorf("stored turns (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]storage.Transfer{*acting.Transfer}, c.Transfers); diff != "" {
			t.Errorf("call's transfers (-want +got):\n%s", diff)
		}
	})

	t.Run("AnsweredThenEnded", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		mustAddTurn(t, s, acting)
		w := writer(t, s)
		answered := t0.Add(9 * time.Second)
		tr, err := w.AnswerTransfer(t.Context(), sid, 1, child, answered)
		if err != nil || tr.Summary != acting.Transfer.Summary || tr.Status != storage.TransferAnswered || tr.ChildCallSID != child || !tr.AnsweredAt.Equal(answered) {
			t.Fatalf("AnswerTransfer = %+v, %v", tr, err)
		}
		// A repeated whisper request keeps the first answer.
		if again, err := w.AnswerTransfer(t.Context(), sid, 1, child, answered.Add(time.Second)); err != nil || !again.AnsweredAt.Equal(answered) {
			t.Fatalf("repeated AnswerTransfer = %+v, %v", again, err)
		}
		ended := t0.Add(70 * time.Second)
		tr, err = w.EndTransfer(t.Context(), sid, 1, storage.TransferEnd{Status: "completed", ChildCallSID: child, TalkSeconds: 61, At: ended})
		if err != nil || tr.Status != "completed" || tr.TalkSeconds != 61 || !tr.EndedAt.Equal(ended) || !tr.Connected() {
			t.Fatalf("EndTransfer = %+v, %v", tr, err)
		}
		// The first outcome wins; a late answer changes nothing.
		if again, err := w.EndTransfer(t.Context(), sid, 1, storage.TransferEnd{Status: "busy", At: ended.Add(time.Second)}); err != nil || again.Status != "completed" {
			t.Fatalf("second EndTransfer = %+v, %v", again, err)
		}
		if late, err := w.AnswerTransfer(t.Context(), sid, 1, callSID(901), ended.Add(time.Second)); err != nil || late.ChildCallSID != child {
			t.Fatalf("late AnswerTransfer = %+v, %v", late, err)
		}
		c := mustGetCall(t, s, sid)
		if len(c.Transfers) != 1 || c.Transfers[0].Status != "completed" || c.Turns[0].Transfer.TalkSeconds != 61 {
			t.Fatalf("stored transfer: %+v", c.Transfers)
		}
		// The child leg is no call of its own.
		if _, err := s.GetCall(t.Context(), child); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("GetCall(child leg) = %v, want ErrNotFound", err)
		}
	})

	t.Run("BusyWithoutAnswer", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		mustAddTurn(t, s, acting)
		tr, err := writer(t, s).EndTransfer(t.Context(), sid, 1, storage.TransferEnd{Status: "busy", ChildCallSID: child, At: t0.Add(20 * time.Second)})
		if err != nil || tr.Status != "busy" || tr.Connected() || tr.AnsweredAt != nil || tr.ChildCallSID != child {
			t.Fatalf("EndTransfer(busy) = %+v, %v", tr, err)
		}
	})

	t.Run("ConcurrentOutcomesKeepOne", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		mustAddTurn(t, s, acting)
		w := writer(t, s)
		var wg sync.WaitGroup
		statuses := []string{"busy", "no-answer", "failed", "completed"}
		got := make([]string, len(statuses))
		for i, st := range statuses {
			wg.Go(func() {
				tr, err := w.EndTransfer(t.Context(), sid, 1, storage.TransferEnd{Status: st, At: t0.Add(time.Minute)})
				if err != nil {
					t.Errorf("EndTransfer(%s): %v", st, err)
				}
				got[i] = tr.Status
			})
		}
		wg.Wait()
		for _, g := range got {
			if g != got[0] {
				t.Fatalf("racing outcomes answered %v: want one kept", got)
			}
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		plain := acting
		plain.Transfer, plain.ToolCalls = nil, nil
		mustAddTurn(t, s, plain)
		w := writer(t, s)
		for name, call := range map[string]func() error{
			"NoTransfer": func() error { _, err := w.AnswerTransfer(t.Context(), sid, 1, child, t0); return err },
			"NoTurn": func() error {
				_, err := w.EndTransfer(t.Context(), sid, 2, storage.TransferEnd{Status: "busy", At: t0})
				return err
			},
			"NoCall": func() error {
				_, err := w.AnswerTransfer(t.Context(), callSID(2), 1, child, t0)
				return err
			},
		} {
			if err := call(); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", name, err)
			}
		}
		if _, err := s.GetCall(t.Context(), callSID(2)); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("a transfer webhook for an unknown call created it: %v", err)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		mustAddTurn(t, s, acting)
		w := writer(t, s)
		if _, err := w.AnswerTransfer(t.Context(), sid, 1, "CAnope", t0); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("AnswerTransfer(bad SID) = %v", err)
		}
		if _, err := w.EndTransfer(t.Context(), sid, 1, storage.TransferEnd{Status: "exploded", At: t0}); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("EndTransfer(bad status) = %v", err)
		}
		caller := storage.Turn{CallSID: sid, Number: 2, Role: storage.RoleCaller, Text: "hi", Confidence: -1, ToolCalls: acting.ToolCalls}
		if _, _, err := s.AddTurn(t.Context(), caller); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("a caller turn with tool calls: %v", err)
		}
		wrong := acting
		wrong.Number = 3
		if _, _, err := s.AddTurn(t.Context(), wrong); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("a transfer of another turn: %v", err)
		}
	})

	t.Run("ErrGone", func(t *testing.T) {
		s := newStore(t)
		mustUpsert(t, s, newCall(1, t0))
		mustAddTurn(t, s, acting)
		if _, err := s.ApplyStatus(t.Context(), newCall(1, t0), storage.StatusEvent{Status: storage.StatusCompleted, At: t0.Add(time.Minute), Sequence: -1}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteCall(t.Context(), sid, storage.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := writer(t, s).EndTransfer(t.Context(), sid, 1, storage.TransferEnd{Status: "busy", At: t0}); !errors.Is(err, storage.ErrGone) {
			t.Errorf("EndTransfer on a deleted call = %v, want ErrGone", err)
		}
	})
}
