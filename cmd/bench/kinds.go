package main

import (
	"context"
	"time"

	"switchboard/storage"
)

// kind is one webhook measured against its baseline.
type kind struct {
	name, file string // "incoming call", and its profile's file name
	baseline   string // what pgbench does
	goal       float64
	script     string
	// sameRows is a pgbench script writing the rows the webhook stores
	// (and reading what it must read), by the plainest statements.
	sameRows string
	// perCall is how many of the webhooks go to one call: 0 when each
	// creates its own (no seeding), else the calls are seeded first.
	perCall  int
	greeting bool // seeded calls have their greeting (turn 0)
	request  func(sid string, n int) request
	direct   func(ctx context.Context, st storage.Store, sid string, n int) error
	// effect counts what the pgbench transactions on a space did (one
	// per transaction), so a baseline that matched nothing cannot pass
	// for fast.
	effect string
}

// newCall is the call a webhook of the call sid reports, as the handlers
// read it from the form.
func newCall(sid string, status storage.CallStatus) storage.NewCall {
	c := callOf(sid)
	return storage.NewCall{SID: c.CallSID, AccountSID: c.AccountSID, From: c.From, To: c.To, Direction: "inbound", Status: status, At: time.Now()}
}

var kinds = []kind{
	{
		name: "incoming call", file: "incoming-call", goal: 0.6,
		baseline: "INSERT one call row ON CONFLICT DO NOTHING",
		script:   insertCallScript,
		sameRows: callAndGreetingScript,
		request:  func(sid string, _ int) request { return incomingRequest(sid) },
		direct: func(ctx context.Context, st storage.Store, sid string, _ int) error {
			_, _, err := st.StartCall(ctx, newCall(sid, storage.StatusRinging), storage.Turn{Text: "Hello! How can I help you today?"})
			return err
		},
		effect: `SELECT count(*) FROM calls WHERE sid >= $1 AND sid < $2`,
	},
	{
		name: "status callback", file: "status-callback", goal: 0.8,
		baseline: "UPDATE calls SET status = $2 WHERE sid = $1",
		script:   updateStatusScript,
		sameRows: completeCallScript,
		perCall:  1,
		request:  func(sid string, _ int) request { return statusRequest(sid, "completed", 2) },
		direct: func(ctx context.Context, st storage.Store, sid string, _ int) error {
			_, err := st.ApplyStatus(ctx, newCall(sid, storage.StatusCompleted), storage.StatusEvent{
				Status: storage.StatusCompleted, At: time.Now(), Sequence: 2, Duration: 42,
			})
			return err
		},
		effect: `SELECT count(*) FROM calls WHERE sid >= $1 AND sid < $2 AND status = 'completed'`,
	},
	{
		name: "speech turn", file: "speech-turn", goal: 0.5,
		baseline: "INSERT two turn rows, one transaction",
		script:   insertTurnsScript,
		sameRows: turnAndConversationScript,
		perCall:  turnsPerCall, greeting: true,
		request: turnRequest,
		direct: func(ctx context.Context, st storage.Store, sid string, n int) error {
			if _, err := st.BeginTurn(ctx, newCall(sid, storage.StatusInProgress), storage.Turn{Number: n, Text: "Where are you located?", Confidence: 0.91}); err != nil {
				return err
			}
			_, _, err := st.AddTurn(ctx, storage.Turn{CallSID: sid, Number: n, Role: storage.RoleAssistant,
				Text: "You can find us at 100 Main Street, next to the central station.", Confidence: -1})
			return err
		},
		effect: `SELECT count(*) / 2 FROM turns WHERE call_sid >= $1 AND call_sid < $2 AND number > 0`,
	},
}

// target names the call and turn of a client's i-th webhook of k.
func (k kind) target(space, client, i int) (sid string, n int) {
	if k.perCall == 0 {
		return callSID(space, client, i), 0
	}
	return callSID(space, client, i/k.perCall), i%k.perCall + 1
}

// calls is how many calls of k a client sending limit webhooks needs.
func (k kind) calls(limit int) int {
	if k.perCall == 0 {
		return 0
	}
	return (limit + k.perCall - 1) / k.perCall
}
