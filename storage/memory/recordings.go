package memory

import (
	"context"

	"switchboard/storage"
)

// AddRecording stores r once per recording SID; a new pending recording
// enqueues its archive work in the same step, so it is never forgotten.
func (s *Store) AddRecording(ctx context.Context, r storage.Recording) (storage.Recording, bool, error) {
	r, err := r.CheckNew()
	if err != nil {
		return storage.Recording{}, false, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.recordings[r.SID]; ok {
		return cloneRecording(old), false, nil
	}
	// A recording of a call never heard of: the call was in progress.
	c, err := s.upsert(storage.NewCall{SID: r.CallSID, AccountSID: r.AccountSID, Status: storage.StatusInProgress, At: r.CreatedAt})
	if err != nil {
		return storage.Recording{}, false, err
	}
	// Archive results are only ever set by CompleteRecording and FailWork.
	rec := storage.Recording{
		SID:        r.SID,
		CallSID:    r.CallSID,
		AccountSID: r.AccountSID,
		SourceURL:  r.SourceURL,
		Duration:   r.Duration,
		Channels:   r.Channels,
		StartedAt:  normPtr(r.StartedAt),
		State:      r.State,
		LastError:  r.LastError,
		CreatedAt:  orNow(r.CreatedAt),
	}
	s.recordings[r.SID] = &rec
	c.recordings = append(c.recordings, r.SID)
	if rec.State == storage.RecordingPending {
		s.enqueue(storage.WorkArchiveRecording, rec.CallSID, rec.SID)
	}
	return cloneRecording(&rec), true, nil
}

// GetRecording returns the recording only under its own call, so a link
// naming another call cannot reach it.
func (s *Store) GetRecording(ctx context.Context, callSID, sid string) (storage.Recording, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.recordings[sid]
	if !ok || rec.CallSID != callSID {
		return storage.Recording{}, notFoundRecording()
	}
	return cloneRecording(rec), nil
}

func cloneRecording(r *storage.Recording) storage.Recording {
	c := *r
	c.StartedAt = normPtr(r.StartedAt)
	c.StoredAt = normPtr(r.StoredAt)
	return c
}
