-- Replica erasures (storage.ErasureQueue). S3 replication copies every new
-- version of a recording to the replica bucket in the other region but
-- never a version's deletion, so deleting a call must erase its audio
-- there too, while that region may be down. DeleteCall records the erasure
-- in its own transaction; the call's rows (work included) are gone by
-- then, so the erasure hangs off the call's tombstone, which the foreign
-- key keeps until the erasure is done (PurgeTombstones skips it).

-- +goose Up
CREATE TABLE blob_erasures (
    call_sid     text        PRIMARY KEY REFERENCES call_tombstones (sid),
    -- the bucket to erase in (S3_REPLICA_BUCKET when the call was deleted):
    -- a failover swaps which bucket the service calls its replica.
    bucket       text        NOT NULL CHECK (bucket <> ''),
    -- every blob key the call's audio may be under (storage.BlobKeys)
    keys         text[]      NOT NULL CHECK (cardinality(keys) > 0),
    deleted_at   timestamptz NOT NULL,
    -- pass is the pass to run next: 1 at the deletion, 2 after the recheck
    -- delay (storage.ErasurePasses).
    pass         smallint    NOT NULL DEFAULT 1 CHECK (pass BETWEEN 1 AND 2),
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text        NOT NULL DEFAULT '',
    -- run_at NULL: due at once; otherwise not before (retry backoff, or
    -- the second pass).
    run_at       timestamptz,
    -- lease is the random token of the worker holding the erasure until lease_until.
    lease        text,
    lease_until  timestamptz
);

-- +goose Down
DROP TABLE blob_erasures;
