package worker

import (
	"testing"
	"time"

	"switchboard/storage"
)

func TestPolicyNext(t *testing.T) {
	created := time.Date(2026, 2, 12, 11, 0, 0, 0, time.UTC)
	t.Run("WindowEndsTheRetries", func(t *testing.T) {
		p := DefaultConfig().DeliveryPolicy()
		if p.Window != 24*time.Hour {
			t.Fatalf("the default delivery window is %s, want 24h", p.Window)
		}
		// Fail every attempt the moment it is due: the retries spread
		// over the window and stop at its end.
		now, attempts := created, 0
		var gaps []time.Duration
		for attempts < 1000 {
			attempts++
			next, ok := p.Next(attempts, created, now)
			if !ok {
				break
			}
			gaps = append(gaps, next.Sub(now))
			now = next
		}
		if now.Sub(created) > p.Window || now.Sub(created) < p.Window-2*p.Max {
			t.Errorf("gave up %s after the first attempt, want close to the %s window", now.Sub(created), p.Window)
		}
		if attempts < 20 || attempts > 40 {
			t.Errorf("%d attempts in a day", attempts)
		}
		if gaps[0] < 4*time.Second || gaps[0] > 6*time.Second || gaps[len(gaps)-1] < 48*time.Minute {
			t.Errorf("delays from %s to %s, want 5s ±20%% growing to 1h ±20%%", gaps[0], gaps[len(gaps)-1])
		}
	})
	t.Run("MaxAttempts", func(t *testing.T) {
		p := Policy{Base: time.Second, Max: time.Minute, MaxAttempts: 3}
		for attempt, want := range map[int]bool{1: true, 2: true, 3: false, 4: false} {
			if _, ok := p.Next(attempt, created, created); ok != want {
				t.Errorf("after attempt %d: retry %v, want %v", attempt, ok, want)
			}
		}
	})
	t.Run("EachKindItsOwn", func(t *testing.T) {
		c := DefaultConfig()
		pool := New(c, Deps{})
		for _, k := range []storage.WorkKind{storage.WorkArchiveRecording, storage.WorkSummarizeCall, storage.WorkAnalyzeCall, storage.WorkDeleteTwilioMedia} {
			if p := pool.policy(k); p.MaxAttempts != c.MaxAttempts || p.Base != c.BackoffBase || p.Window != 0 {
				t.Errorf("%s: %+v", k, p)
			}
		}
		if d := c.DeliveryPolicy(); d.MaxAttempts != 0 || d.Window != c.Webhooks.RetryWindow || d.Max != c.Webhooks.BackoffMax {
			t.Errorf("deliveries: %+v", d)
		}
	})
}
