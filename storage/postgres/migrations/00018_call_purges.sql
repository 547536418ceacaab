-- The retention window (storage.Retention). ExpireCalls deletes calls
-- older than RETENTION_DAYS in batches; each call's rows go by cascade, as
-- for DeleteCall, and its audio (blobs in the bucket, media at Twilio),
-- which no transaction can reach, is recorded here in the same
-- transaction, hanging off the call's tombstone like a replica erasure, so
-- a worker deletes it even when the process that expired the call died
-- just after committing. PurgeTombstones keeps a tombstone while its
-- purge is pending.

-- +goose Up
CREATE TABLE call_purges (
    call_sid     text        PRIMARY KEY REFERENCES call_tombstones (sid),
    -- every blob key the call's audio may be under (storage.BlobKeys)
    keys         text[]      NOT NULL,
    -- the call's recordings at Twilio, as 'AC…/RE…'
    media        text[]      NOT NULL,
    expired_at   timestamptz NOT NULL,
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text        NOT NULL DEFAULT '',
    -- run_at NULL: due at once; otherwise not before (retry backoff).
    run_at       timestamptz,
    -- lease is the random token of the worker holding the purge until lease_until.
    lease        text,
    lease_until  timestamptz
);

-- +goose Down
DROP TABLE call_purges;
