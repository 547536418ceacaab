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
		return p.calls.CompleteWork(ctx, w)
	}
	started := rec.CreatedAt
	if rec.StartedAt != nil {
		started = *rec.StartedAt
	}
	key := storage.RecordingKey(rec.AccountSID, rec.CallSID, rec.SID, started, "wav")

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
	err = p.calls.CompleteRecording(ctx, w, blob, p.cfg.DeleteAfterArchive)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
		// Either another worker took the work over (its lease expired), and
		// writes the same object, or the call was deleted while the audio was
		// uploading, which removed the work with it: then nothing refers to
		// the object any more and it must not stay behind.
		if _, gerr := p.calls.GetRecording(ctx, w.CallSID, w.RecordingSID); errors.Is(gerr, storage.ErrNotFound) {
			log.Info("call deleted during archiving; removing the audio")
			if derr := p.blobs.Delete(ctx, key); derr != nil {
				return derr
			}
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	log.Info("recording archived", "bytes", info.Size, "sha256", info.SHA256)
	return nil
}

func (p *Pool) summarize(ctx context.Context, w Work) error {
	call, err := p.calls.GetCall(ctx, w.CallSID)
	if errors.Is(err, storage.ErrNotFound) {
		return p.completeGone(ctx, w)
	}
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, p.cfg.SummaryTimeout)
	defer cancel()
	s, err := p.ai.Summarize(sctx, assistant.Conversation{CallSID: call.SID, From: call.From, To: call.To, Turns: call.Turns})
	if err != nil {
		return fmt.Errorf("summarizing: %w", err)
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = p.now().UTC()
	}
	s.CreatedAt = s.CreatedAt.UTC().Truncate(time.Microsecond)
	return p.calls.CompleteSummary(ctx, w, s)
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
	return p.calls.CompleteWork(ctx, w)
}

// completeGone finishes work whose call was deleted; the deletion usually
// removed the work too, which is just as good.
func (p *Pool) completeGone(ctx context.Context, w Work) error {
	err := p.calls.CompleteWork(ctx, w)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
		return nil
	}
	return err
}
