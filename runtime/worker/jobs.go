package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"switchboard/assistant"
	"switchboard/storage"
)

// archive streams a recording from Twilio into the blob store: one pass from
// the media response into Put, which hashes as it uploads, so memory stays
// bounded whatever the size. The recording is marked stored only after Put
// returned, and in the same transaction the optional media deletion is
// enqueued.
func (p *Pool) archive(ctx context.Context, w Work, log *slog.Logger) error {
	rec, err := p.calls.GetRecording(ctx, w.CallSID, w.RecordingSID)
	if errors.Is(err, storage.ErrNotFound) {
		return p.completeGone(ctx, w)
	}
	if err != nil {
		return err
	}
	if rec.State != storage.RecordingPending {
		return p.work.CompleteWork(ctx, w)
	}
	// The key is the recording's ArchiveKey, which deleting the call relies
	// on to find this object whatever the store says of the recording.
	key := rec.ArchiveKey()
	if key == "" {
		return permanent{errors.New("the recording has no account SID to file its audio under")}
	}

	body, contentType, err := p.twilio.Media(ctx, rec)
	if err != nil {
		return err
	}
	defer body.Close()
	info, err := p.blobs.Put(ctx, key, body, contentType)
	if err != nil {
		return fmt.Errorf("storing audio: %w", err)
	}
	blob := storage.StoredBlob{Key: key, Size: info.Size, SHA256: info.SHA256, ContentType: contentType}
	err = p.work.CompleteRecording(ctx, w, blob, p.cfg.DeleteAfterArchive)
	if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrGone) {
		return p.afterLostLease(ctx, w, key, err, log)
	}
	if err != nil {
		return err
	}
	log.Info("recording archived", "bytes", info.Size, "sha256", info.SHA256)
	return nil
}

// Bounds of afterLostLease: how long it may take in all (past the attempt's
// own deadline, which may be what cost the lease) and how many times it
// asks the store and the blob store before giving up.
const (
	orphanTimeout = 30 * time.Second
	orphanTries   = 5
)

// afterLostLease decides what becomes of the object this attempt uploaded
// once its work is no longer its own (lost is the error that said so).
// Either another worker took the work over when this lease expired, and
// writes and records the same object, so it must stay; or the call was
// deleted while the audio uploaded, which removed the work with it. Then
// nothing refers to the object, only this worker knows it is there, and no
// retry will come (the work is gone), so the question is asked until the
// store answers and the object deleted until the blob store agrees.
func (p *Pool) afterLostLease(ctx context.Context, w Work, key string, lost error, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), orphanTimeout)
	defer cancel()
	var err error
	for try := 0; try < orphanTries; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("archived audio at %s may be orphaned (%v): %w", key, lost, err)
			case <-time.After(time.Duration(try) * 200 * time.Millisecond):
			}
		}
		if _, gerr := p.calls.GetRecording(ctx, w.CallSID, w.RecordingSID); gerr == nil {
			return lost // another worker owns the work and the object
		} else if !errors.Is(gerr, storage.ErrNotFound) {
			err = gerr
			continue
		}
		if err = p.blobs.Delete(ctx, key); err == nil {
			log.Info("call deleted while its recording was archiving; audio removed", "key", key)
			return nil
		}
	}
	log.Error("lease lost after uploading; the audio of a possibly deleted call could not be removed", "key", key, "err", err.Error())
	return fmt.Errorf("archived audio at %s may be orphaned (%v): %w", key, lost, err)
}

func (p *Pool) summarize(ctx context.Context, w Work) error {
	call, err := p.calls.GetCall(ctx, w.CallSID)
	if errors.Is(err, storage.ErrNotFound) {
		return p.completeGone(ctx, w)
	}
	if err != nil {
		return err
	}
	// The summary follows the assistant version the call ran with; when
	// that version has an analysis schema, its analysis is queued with the
	// summary.
	a, err := p.versions.Get(ctx, call.Assistant)
	if err != nil {
		return fmt.Errorf("reading the call's assistant %s version %d: %w", call.Assistant.ID, call.Assistant.Version, err)
	}
	sctx, cancel := context.WithTimeout(ctx, p.cfg.SummaryTimeout)
	defer cancel()
	s, err := p.ai.Summarize(sctx, conversation(call, &a))
	if err != nil {
		return fmt.Errorf("summarizing: %w", err)
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = p.now().UTC()
	}
	s.CreatedAt = s.CreatedAt.UTC().Truncate(time.Microsecond)
	return p.work.CompleteSummary(ctx, w, s, storage.HasSchema(a.AnalysisSchema))
}

func conversation(call storage.Call, a *storage.Assistant) assistant.Conversation {
	return assistant.Conversation{CallSID: call.SID, From: call.From, To: call.To, Language: a.Language, Turns: call.Turns, Assistant: a}
}

// analyze fills the call's analysis: with the schema of the version the
// call ran with after its summary, or of the version a run names.
func (p *Pool) analyze(ctx context.Context, w Work, log *slog.Logger) error {
	call, err := p.calls.GetCall(ctx, w.CallSID)
	if errors.Is(err, storage.ErrNotFound) {
		return p.completeGone(ctx, w)
	}
	if err != nil {
		return err
	}
	ref := call.Assistant
	if w.RunID != 0 {
		run, err := p.analyses.GetAnalysisRun(ctx, w.RunID)
		if err != nil {
			return fmt.Errorf("reading analysis run %d: %w", w.RunID, err)
		}
		ref = storage.AssistantRef{ID: run.AssistantID, Version: run.Version}
	}
	a, err := p.versions.Get(ctx, ref)
	if err != nil {
		return fmt.Errorf("reading assistant %s version %d: %w", ref.ID, ref.Version, err)
	}
	if !storage.HasSchema(a.AnalysisSchema) {
		// The schema was removed before the analysis ran: nothing to fill.
		return p.work.CompleteWork(ctx, w)
	}
	actx, cancel := context.WithTimeout(ctx, p.cfg.SummaryTimeout)
	defer cancel()
	fields, err := p.ai.Analyze(actx, conversation(call, &a))
	if err != nil {
		return fmt.Errorf("analyzing: %w", err)
	}
	err = p.analyses.CompleteAnalysis(ctx, w, storage.Analysis{Fields: fields, AssistantVersion: ref.Version, CreatedAt: p.now().UTC()})
	if err == nil {
		log.Info("call analyzed", "assistant", ref.ID, "version", ref.Version, "run", w.RunID)
	}
	return err
}

func (p *Pool) deleteMedia(ctx context.Context, w Work) error {
	rec, err := p.calls.GetRecording(ctx, w.CallSID, w.RecordingSID)
	if errors.Is(err, storage.ErrNotFound) {
		return p.completeGone(ctx, w)
	}
	if err != nil {
		return err
	}
	if err := p.twilio.DeleteMedia(ctx, rec); err != nil {
		return err
	}
	return p.work.CompleteWork(ctx, w)
}

// completeGone finishes work whose call was deleted; the deletion usually
// removed the work too, which is just as good.
func (p *Pool) completeGone(ctx context.Context, w Work) error {
	err := p.work.CompleteWork(ctx, w)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrGone) {
		return nil
	}
	return err
}
