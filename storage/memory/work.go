package memory

import (
	"context"
	"slices"
	"time"

	"switchboard/storage"
)

// workItem is a stored work item. A zero due time means due at once.
type workItem struct {
	w   storage.Work // Lease is "" while nobody holds it
	due time.Time
}

// enqueue adds work; the caller holds s.mu, so the work appears in the same
// step as the change that causes it.
func (s *Store) enqueue(kind storage.WorkKind, callSID, recordingSID string) {
	s.nextWorkID++
	s.work = append(s.work, &workItem{w: storage.Work{
		ID:           s.nextWorkID,
		Kind:         kind,
		CallSID:      callSID,
		RecordingSID: recordingSID,
	}})
}

// ClaimWork leases the oldest due item. IDs only grow, so s.work is already
// oldest first.
func (s *Store) ClaimWork(ctx context.Context, now time.Time, lease time.Duration) (storage.Work, bool, error) {
	if lease <= 0 {
		return storage.Work{}, false, storage.Errorf(storage.ErrInvalid, "work lease must be positive")
	}
	now = norm(now)

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range s.work {
		if it.w.Lease == "" && it.due.After(now) || it.w.Lease != "" && it.w.LeaseUntil.After(now) {
			continue
		}
		it.w.Attempts++
		it.w.Lease = newLease()
		it.w.LeaseUntil = norm(now.Add(lease))
		s.mirrorAttempts(it)
		return it.w, true, nil
	}
	return storage.Work{}, false, nil
}

// held returns the index of w's item while w's lease is still the current one.
func (s *Store) held(w storage.Work) (int, error) {
	i := slices.IndexFunc(s.work, func(it *workItem) bool { return it.w.ID == w.ID })
	if i < 0 || w.Lease == "" || s.work[i].w.Lease != w.Lease {
		return 0, lostLease()
	}
	return i, nil
}

// archiveRecording returns the recording an archive item works on, or nil
// for other kinds: only archiving decides a recording's state, so a failed
// media deletion at Twilio never marks stored audio as failed.
func (s *Store) archiveRecording(it *workItem) *storage.Recording {
	if it.w.Kind != storage.WorkArchiveRecording {
		return nil
	}
	return s.recordings[it.w.RecordingSID]
}

func (s *Store) mirrorAttempts(it *workItem) {
	if rec := s.archiveRecording(it); rec != nil {
		rec.Attempts = it.w.Attempts
	}
}

// finish runs done on w's item while w's lease is held and, when it
// succeeds, removes the item: the result and the end of the work are one
// step, as in one transaction.
func (s *Store) finish(w storage.Work, done func(it *workItem) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, err := s.held(w)
	if err != nil {
		return err
	}
	if err := done(s.work[i]); err != nil {
		return err
	}
	s.work = slices.Delete(s.work, i, i+1)
	return nil
}

// CompleteRecording marks the recording stored and finishes its archive work.
func (s *Store) CompleteRecording(ctx context.Context, w storage.Work, blob storage.StoredBlob, deleteMedia bool) error {
	if err := storage.CheckKey(blob.Key); err != nil {
		return err
	}
	return s.finish(w, func(it *workItem) error {
		rec := s.archiveRecording(it)
		if rec == nil {
			return storage.Errorf(storage.ErrInvalid, "work is not a recording to archive")
		}
		stored := norm(time.Now())
		rec.State = storage.RecordingStored
		rec.BlobKey = blob.Key
		rec.Size = blob.Size
		rec.SHA256 = blob.SHA256
		rec.ContentType = blob.ContentType
		rec.StoredAt = &stored
		rec.LastError = ""
		s.recordEvent(storage.EventRecordingStored, rec.CallSID, rec.SID, time.Time{})
		if deleteMedia {
			s.enqueue(storage.WorkDeleteTwilioMedia, rec.CallSID, rec.SID)
		}
		return nil
	})
}

// CompleteSummary stores the summary, finishes the summary work and, with
// analyze, enqueues the call's analysis.
func (s *Store) CompleteSummary(ctx context.Context, w storage.Work, sum storage.Summary, analyze bool) error {
	return s.finish(w, func(it *workItem) error {
		if it.w.Kind != storage.WorkSummarizeCall {
			return storage.Errorf(storage.ErrInvalid, "work is not a call to summarize")
		}
		c, ok := s.calls[it.w.CallSID]
		if !ok {
			return notFoundCall()
		}
		sum.CreatedAt = orNow(sum.CreatedAt)
		c.summary = &sum
		if analyze {
			s.enqueueOnce(storage.WorkAnalyzeCall, it.w.CallSID, "", 0)
		} else {
			s.recordEvent(storage.EventCallSummarized, it.w.CallSID, "", time.Time{})
		}
		return nil
	})
}

// enqueueOnce adds work unless work of the same kind for the same call and
// recording exists (the unique key of the PostgreSQL store's work table),
// and returns the item. The caller holds s.mu.
func (s *Store) enqueueOnce(kind storage.WorkKind, callSID, recordingSID string, run int64) *workItem {
	for _, it := range s.work {
		if it.w.Kind == kind && it.w.CallSID == callSID && it.w.RecordingSID == recordingSID {
			return it
		}
	}
	s.enqueue(kind, callSID, recordingSID)
	it := s.work[len(s.work)-1]
	it.w.RunID = run
	return it
}

// CompleteWork finishes work that has no result to store.
func (s *Store) CompleteWork(ctx context.Context, w storage.Work) error {
	return s.finish(w, func(*workItem) error { return nil })
}

// FailWork keeps the error where the API shows it and either schedules a
// retry or, when final, gives up on the work.
func (s *Store) FailWork(ctx context.Context, w storage.Work, f storage.Failure) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, err := s.held(w)
	if err != nil {
		return err
	}
	it := s.work[i]
	rec := s.archiveRecording(it)
	if rec != nil {
		rec.LastError = f.Err
		rec.Attempts = it.w.Attempts
	}
	if run, ok := s.runs[it.w.RunID]; ok {
		run.LastError = f.Err
		if f.Final {
			run.Failed++
		}
	}
	if f.Final {
		if rec != nil {
			rec.State = storage.RecordingFailed
		}
		if it.w.Kind == storage.WorkAnalyzeCall && it.w.RunID == 0 {
			// The summary's event waited for the analysis, which will not come.
			s.recordEvent(storage.EventCallSummarized, it.w.CallSID, "", time.Time{})
		}
		s.work = slices.Delete(s.work, i, i+1)
		return nil
	}
	it.w.LastError = f.Err
	it.w.Lease = ""
	it.w.LeaseUntil = time.Time{}
	it.due = norm(f.RetryAt)
	return nil
}

// ReleaseWork hands the work back untried, for a worker that is stopping.
func (s *Store) ReleaseWork(ctx context.Context, w storage.Work) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, err := s.held(w)
	if err != nil {
		return err
	}
	it := s.work[i]
	it.w.Attempts--
	it.w.Lease = ""
	it.w.LeaseUntil = time.Time{}
	it.due = time.Time{}
	s.mirrorAttempts(it)
	return nil
}
