package storage_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"switchboard/storage"
)

func TestCheckKey(t *testing.T) {
	ok := []string{"a", "recordings/AC1/2026/11/30/CA1/RE1.wav", "a-b_c.d/e"}
	bad := []string{"", "../x", "a/../../x", "/abs", "a//b", "a/./b", "a\\b", "a\x00b", "é", strings.Repeat("a", storage.MaxKeyLen+1), "a/", "."}
	for _, k := range ok {
		if err := storage.CheckKey(k); err != nil {
			t.Errorf("CheckKey(%q) = %v", k, err)
		}
	}
	for _, k := range bad {
		if err := storage.CheckKey(k); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("CheckKey(%q) = %v, want ErrInvalid", k, err)
		}
	}
}

func TestRecordingKey(t *testing.T) {
	at := time.Date(2026, 11, 30, 23, 30, 0, 0, time.FixedZone("x", -5*3600))
	got := storage.RecordingKey("AC1", "CA2", "RE3", at, "wav")
	if got != "recordings/AC1/2026/12/01/CA2/RE3.wav" {
		t.Errorf("RecordingKey = %s (the date must be UTC)", got)
	}
}

func TestCursor(t *testing.T) {
	sid := "CA" + strings.Repeat("ab", 16)
	at := time.Date(2026, 11, 30, 1, 2, 3, 456789000, time.UTC)
	gotAt, gotSID, err := storage.DecodeCursor(storage.EncodeCursor(at, sid))
	if err != nil || !gotAt.Equal(at) || gotSID != sid {
		t.Fatalf("round trip: %v %s %v", gotAt, gotSID, err)
	}
	for _, c := range []string{"x", "!!!", strings.Repeat("A", 200), storage.EncodeCursor(at, "CA1")} {
		if _, _, err := storage.DecodeCursor(c); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("DecodeCursor(%q) = %v, want ErrInvalid", c, err)
		}
	}
}

func TestAdvances(t *testing.T) {
	cases := []struct {
		cur, next storage.CallStatus
		want      bool
	}{
		{storage.StatusRinging, storage.StatusInProgress, true},
		{storage.StatusInProgress, storage.StatusRinging, false},
		{storage.StatusInProgress, storage.StatusCompleted, true},
		{storage.StatusCompleted, storage.StatusBusy, false},
		{storage.StatusCompleted, storage.StatusCompleted, false},
		{storage.StatusQueued, storage.StatusNoAnswer, true},
	}
	for _, c := range cases {
		if got := storage.Advances(c.cur, c.next); got != c.want {
			t.Errorf("Advances(%s, %s) = %v", c.cur, c.next, got)
		}
	}
	if _, err := storage.ParseCallStatus("exploded"); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("ParseCallStatus: %v", err)
	}
}

func TestErrors(t *testing.T) {
	cause := errors.New("driver detail")
	err := storage.Wrap(storage.ErrUnavailable, cause, "database unreachable")
	if !errors.Is(err, storage.ErrUnavailable) || !errors.Is(err, cause) {
		t.Errorf("Wrap does not unwrap to its kind and cause")
	}
	if storage.Message(err) != "database unreachable" || storage.KindOf(err) != storage.ErrUnavailable {
		t.Errorf("Message %q, KindOf %v", storage.Message(err), storage.KindOf(err))
	}
	if storage.KindOf(cause) != nil || storage.Message(cause) != "" {
		t.Errorf("an internal error has a kind or a client message")
	}
	if storage.Wrap(storage.ErrInvalid, nil, "x") != nil {
		t.Errorf("Wrap(nil) is not nil")
	}
}

func TestArchiveKey(t *testing.T) {
	account, call, rec := "AC"+strings.Repeat("0a", 16), "CA"+strings.Repeat("1b", 16), "RE"+strings.Repeat("2c", 16)
	created := time.Date(2026, 11, 30, 23, 59, 0, 0, time.UTC)
	started := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	r := storage.Recording{SID: rec, CallSID: call, AccountSID: account, CreatedAt: created}
	if got, want := r.ArchiveKey(), storage.RecordingKey(account, call, rec, created, "wav"); got != want {
		t.Errorf("ArchiveKey without a start time = %s, want %s (dated by creation)", got, want)
	}
	r.StartedAt = &started
	if got, want := r.ArchiveKey(), "recordings/"+account+"/2026/11/29/"+call+"/"+rec+".wav"; got != want {
		t.Errorf("ArchiveKey = %s, want %s (dated by the recording's start)", got, want)
	}
	if err := storage.CheckKey(r.ArchiveKey()); err != nil {
		t.Errorf("ArchiveKey is not a valid key: %v", err)
	}
	r.AccountSID = ""
	if got := r.ArchiveKey(); got != "" {
		t.Errorf("ArchiveKey without an account = %q, want \"\"", got)
	}
}

func TestCheckDeletable(t *testing.T) {
	sid := "CA" + strings.Repeat("ab", 16)
	for _, st := range []storage.CallStatus{storage.StatusQueued, storage.StatusRinging, storage.StatusInProgress} {
		err := storage.CheckDeletable(sid, st)
		if storage.KindOf(err) != storage.ErrConflict || !strings.Contains(storage.Message(err), string(st)) {
			t.Errorf("CheckDeletable(%s) = %v, want ErrConflict naming the status", st, err)
		}
	}
	for _, st := range []storage.CallStatus{storage.StatusCompleted, storage.StatusBusy, storage.StatusFailed, storage.StatusNoAnswer, storage.StatusCanceled} {
		if err := storage.CheckDeletable(sid, st); err != nil {
			t.Errorf("CheckDeletable(%s) = %v, want nil", st, err)
		}
	}
	gone := storage.CallGone(sid)
	if storage.KindOf(gone) != storage.ErrGone || errors.Is(gone, storage.ErrNotFound) || !strings.Contains(storage.Message(gone), sid) {
		t.Errorf("CallGone = %v (kind %v), want ErrGone, distinct from ErrNotFound, naming the call", gone, storage.KindOf(gone))
	}
}

func TestBlobKeys(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	rec := func(n int) storage.Recording {
		return storage.Recording{
			SID: "RE" + strings.Repeat(string(rune('0'+n)), 32), CallSID: "CA" + strings.Repeat("1", 32),
			AccountSID: "AC" + strings.Repeat("2", 32), StartedAt: &at,
		}
	}
	pending, stored, moved, noAccount := rec(1), rec(2), rec(3), rec(4)
	stored.BlobKey = stored.ArchiveKey()
	moved.BlobKey = "recordings/elsewhere/" + moved.SID + ".wav"
	noAccount.AccountSID = ""
	bad := rec(5)
	bad.BlobKey = "../escape.wav"
	got := storage.BlobKeys([]storage.Recording{pending, stored, moved, noAccount, bad, pending})
	want := []string{pending.ArchiveKey(), stored.ArchiveKey(), moved.ArchiveKey(), moved.BlobKey, bad.ArchiveKey()}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("BlobKeys = %v, want %v", got, want)
	}
	if keys := storage.BlobKeys(nil); len(keys) != 0 {
		t.Errorf("BlobKeys(nil) = %v", keys)
	}
}
