package memory

import (
	"cmp"
	"context"
	"slices"
	"time"

	"switchboard/storage"
)

// StartCall creates the call, or fills in the fields an earlier, sparser
// webhook left empty, and keeps greeting as turn 0 unless there is one. A
// deleted call is not created again while its tombstone lasts.
func (s *Store) StartCall(ctx context.Context, nc storage.NewCall, greeting storage.Turn) (storage.Call, storage.Turn, error) {
	if greeting.Text != "" {
		greeting.CallSID, greeting.Number, greeting.Role = nc.SID, 0, storage.RoleAssistant
		if err := greeting.Check(); err != nil {
			return storage.Call{}, storage.Turn{}, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.upsert(nc)
	if err != nil {
		return storage.Call{}, storage.Turn{}, err
	}
	s.recordEvent(storage.EventCallStarted, nc.SID, "", time.Time{})
	key := turnKey{0, storage.RoleAssistant}
	if a, ok := s.version(r.call.Assistant); ok {
		// The call's assistant greets, not the default.
		greeting.Text, greeting.Error = a.Greeting, ""
		greeting.CallSID, greeting.Number, greeting.Role = nc.SID, 0, storage.RoleAssistant
	}
	if old, ok := r.turns[key]; ok || greeting.Text == "" {
		return r.bare(), old, nil
	}
	greeting.CreatedAt = orNow(greeting.CreatedAt)
	r.turns[key] = greeting
	return r.bare(), greeting, nil
}

// upsert creates the call or fills in its empty fields. s.mu is held.
func (s *Store) upsert(nc storage.NewCall) (*callRecord, error) {
	nc, err := nc.Check()
	if err != nil {
		return nil, err
	}
	if _, ok := s.tombstones[nc.SID]; ok {
		return nil, storage.CallGone(nc.SID)
	}
	if r, ok := s.calls[nc.SID]; ok {
		if r.call.To == "" && nc.To != "" {
			// Created without its number (a recording callback): its
			// number's assistant answers it, as for a new call.
			r.call.Assistant = s.route(nc.To)
		}
		fill(&r.call.AccountSID, nc.AccountSID)
		fill(&r.call.From, nc.From)
		fill(&r.call.To, nc.To)
		fill(&r.call.Direction, nc.Direction)
		return r, nil
	}
	at := orNow(nc.At)
	r := &callRecord{
		call: storage.Call{
			SID:        nc.SID,
			AccountSID: nc.AccountSID,
			From:       nc.From,
			To:         nc.To,
			Direction:  nc.Direction,
			Status:     nc.Status,
			CreatedAt:  at,
			UpdatedAt:  at,
			Assistant:  s.route(nc.To),
		},
		turns: make(map[turnKey]storage.Turn),
	}
	s.calls[nc.SID] = r
	return r, nil
}

func fill(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// GetCall returns the call with all its parts.
func (s *Store) GetCall(ctx context.Context, sid string) (storage.Call, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.calls[sid]
	if !ok {
		return storage.Call{}, notFoundCall()
	}
	c := r.bare()
	c.Timeline = slices.Clone(r.timeline)
	c.Turns = r.sortedTurns()
	c.Transfers = storage.TransfersOf(c.Turns)
	if r.summary != nil {
		sum := *r.summary
		c.Summary = &sum
	}
	c.Recordings = make([]storage.Recording, 0, len(r.recordings))
	for _, rsid := range r.recordings {
		c.Recordings = append(c.Recordings, cloneRecording(s.recordings[rsid]))
	}
	return c, nil
}

// bare returns a copy of the call without its parts.
func (r *callRecord) bare() storage.Call {
	c := r.call
	c.EndedAt = normPtr(c.EndedAt)
	if c.Analysis != nil {
		a := *c.Analysis
		a.Fields = slices.Clone(a.Fields)
		c.Analysis = &a
	}
	return c
}

func (r *callRecord) sortedTurns() []storage.Turn {
	turns := make([]storage.Turn, 0, len(r.turns))
	for _, t := range r.turns {
		turns = append(turns, copyTurn(t))
	}
	slices.SortFunc(turns, func(a, b storage.Turn) int {
		if c := cmp.Compare(a.Number, b.Number); c != 0 {
			return c
		}
		return cmp.Compare(roleOrder(a.Role), roleOrder(b.Role))
	})
	return turns
}

// roleOrder puts the caller first within a turn number: the assistant's
// turn N answers the caller's turn N.
func roleOrder(r storage.Role) int {
	if r == storage.RoleCaller {
		return 0
	}
	return 1
}

// ListCalls pages through calls newest first. The cursor is the shared
// storage encoding, so pages stay consistent with the PostgreSQL store.
func (s *Store) ListCalls(ctx context.Context, f storage.CallFilter) (storage.CallPage, error) {
	limit, err := f.PageLimit()
	if err != nil {
		return storage.CallPage{}, err
	}
	var afterAt time.Time
	var afterSID string
	if f.Cursor != "" {
		var err error
		if afterAt, afterSID, err = storage.DecodeCursor(f.Cursor); err != nil {
			return storage.CallPage{}, err
		}
	}

	var number string
	if f.Number != "" {
		number, _ = storage.NormalizeNumber(f.Number) // PageLimit checked it
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var calls []storage.Call
	for _, r := range s.calls {
		c := r.call
		switch {
		case f.Status != "" && c.Status != f.Status,
			f.Active && c.Status.Terminal(),
			number != "" && !storage.MatchNumber(c.From, number) && !storage.MatchNumber(c.To, number),
			f.From != "" && c.From != f.From,
			f.To != "" && c.To != f.To,
			!f.Since.IsZero() && c.CreatedAt.Before(f.Since),
			!f.Until.IsZero() && !c.CreatedAt.Before(f.Until),
			f.Assistant != "" && c.Assistant.ID != f.Assistant,
			!analysisMatches(c.Analysis, f.Analysis),
			f.Cursor != "" && newestFirst(c.CreatedAt, c.SID, afterAt, afterSID) <= 0:
			continue
		}
		calls = append(calls, r.bare())
	}
	slices.SortFunc(calls, func(a, b storage.Call) int {
		return newestFirst(a.CreatedAt, a.SID, b.CreatedAt, b.SID)
	})
	page := storage.CallPage{Calls: calls}
	if len(calls) > limit {
		page.Calls = calls[:limit:limit]
		last := page.Calls[limit-1]
		page.NextCursor = storage.EncodeCursor(last.CreatedAt, last.SID)
	}
	if page.Calls == nil {
		page.Calls = []storage.Call{}
	}
	return page, nil
}

// analysisMatches reports whether an analysis meets every match.
func analysisMatches(a *storage.Analysis, ms []storage.AnalysisMatch) bool {
	for _, m := range ms {
		if a == nil || !m.Matches(a.Fields) {
			return false
		}
	}
	return true
}

// newestFirst orders calls by CreatedAt, then SID, both descending: it is
// negative when (at, sid) comes before (bt, bsid) in a listing.
func newestFirst(at time.Time, sid string, bt time.Time, bsid string) int {
	if c := bt.Compare(at); c != 0 {
		return c
	}
	return cmp.Compare(bsid, sid)
}

// ApplyStatus records ev once per status and moves the call forward only;
// reaching a terminal status enqueues the summary in the same step.
func (s *Store) ApplyStatus(ctx context.Context, nc storage.NewCall, ev storage.StatusEvent) (storage.Call, error) {
	if !ev.Status.Valid() {
		return storage.Call{}, storage.Errorf(storage.ErrInvalid, "unknown call status")
	}
	ev.At = orNow(ev.At)
	sid := nc.SID

	s.mu.Lock()
	defer s.mu.Unlock()
	_, existed := s.calls[sid]
	// A call first heard of in a status callback starts in that status.
	nc.Status = ev.Status
	r, err := s.upsert(nc)
	if err != nil {
		return storage.Call{}, err
	}
	if !existed && ev.Status.Terminal() {
		r.call.EndedAt = normPtr(&ev.At)
		r.call.Duration = ev.Duration
		s.enqueue(storage.WorkSummarizeCall, sid, "")
		s.recordEvent(storage.EventCallEnded, sid, "", time.Time{})
	}
	changed := false
	if !slices.ContainsFunc(r.timeline, func(e storage.StatusEvent) bool { return e.Status == ev.Status }) {
		// Insert after every event not later than ev: callbacks arrive out
		// of order, but the timeline reads oldest first.
		i := len(r.timeline)
		for i > 0 && eventAfter(r.timeline[i-1], ev) {
			i--
		}
		r.timeline = slices.Insert(r.timeline, i, ev)
		changed = true
	}
	if storage.Advances(r.call.Status, ev.Status) {
		r.call.Status = ev.Status
		if ev.Status.Terminal() {
			r.call.EndedAt = normPtr(&ev.At)
			r.call.Duration = ev.Duration
			s.enqueue(storage.WorkSummarizeCall, sid, "")
			s.recordEvent(storage.EventCallEnded, sid, "", time.Time{})
		}
		changed = true
	}
	if changed && ev.At.After(r.call.UpdatedAt) {
		r.call.UpdatedAt = ev.At
	}
	return r.bare(), nil
}

// eventAfter reports whether a belongs after b in a timeline: later, or at
// the same instant with a higher Twilio sequence number.
func eventAfter(a, b storage.StatusEvent) bool {
	if !a.At.Equal(b.At) {
		return a.At.After(b.At)
	}
	return a.Sequence > b.Sequence
}

// DeleteCall removes an ended call, its turns, recordings, summary and work,
// and leaves its tombstone and, when asked, its replica erasure, in one step.
func (s *Store) DeleteCall(ctx context.Context, sid string, o storage.DeleteOptions) ([]storage.Recording, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.calls[sid]
	if !ok {
		return nil, notFoundCall()
	}
	if err := storage.CheckDeletable(sid, r.call.Status); err != nil {
		return nil, err
	}
	deleted := norm(time.Now())
	recs := s.removeCall(sid, deleted, o)
	s.recordEvent(storage.EventCallDeleted, sid, "", deleted)
	return recs, nil
}

// removeCall deletes call sid and everything it owns, leaves its
// tombstone, records the purge of its audio when it had recordings and,
// with o.ReplicaBucket, the erasure of that audio there; it returns the
// call's recordings. The caller holds s.mu.
func (s *Store) removeCall(sid string, deleted time.Time, o storage.DeleteOptions) []storage.Recording {
	r := s.calls[sid]
	// The purge waits for the lease of an archive a worker holds (see
	// storage.CallStore.DeleteCall).
	var due time.Time
	for _, it := range s.work {
		if it.w.CallSID == sid && it.w.Kind == storage.WorkArchiveRecording && it.w.Lease != "" && it.w.LeaseUntil.After(deleted) && it.w.LeaseUntil.After(due) {
			due = it.w.LeaseUntil
		}
	}
	recs := make([]storage.Recording, 0, len(r.recordings))
	for _, rsid := range r.recordings {
		recs = append(recs, cloneRecording(s.recordings[rsid]))
		delete(s.recordings, rsid)
	}
	s.work = slices.DeleteFunc(s.work, func(it *workItem) bool { return it.w.CallSID == sid })
	delete(s.calls, sid)
	s.tombstones[sid] = deleted
	if keys := storage.BlobKeys(recs); o.ReplicaBucket != "" && len(keys) > 0 && s.erasureOf(sid) < 0 {
		s.erasures = append(s.erasures, &erasureItem{e: storage.Erasure{CallSID: sid, Bucket: o.ReplicaBucket, Keys: keys, DeletedAt: deleted, Pass: 1}})
	}
	if len(recs) > 0 {
		if i := s.purgeOf(sid); i >= 0 {
			s.purges = slices.Delete(s.purges, i, i+1)
		}
		s.purges = append(s.purges, &purgeItem{p: storage.Purge{CallSID: sid, Keys: storage.BlobKeys(recs), Media: storage.MediaOf(recs), ExpiredAt: deleted}, due: due})
	}
	return recs
}

// PurgeTombstones forgets up to limit tombstones older than before, oldest
// first, except those of calls whose replica erasure or purge is pending.
func (s *Store) PurgeTombstones(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, storage.Errorf(storage.ErrInvalid, "purge limit must be at least 1")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	type tomb struct {
		sid string
		at  time.Time
	}
	var expired []tomb
	for sid, at := range s.tombstones {
		if at.Before(before) && s.erasureOf(sid) < 0 && s.purgeOf(sid) < 0 {
			expired = append(expired, tomb{sid, at})
		}
	}
	slices.SortFunc(expired, func(a, b tomb) int { return a.at.Compare(b.at) })
	expired = expired[:min(limit, len(expired))]
	for _, e := range expired {
		delete(s.tombstones, e.sid)
	}
	return len(expired), nil
}
