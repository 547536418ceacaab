-- The call store's schema. Calls own every other row: deleting a call
-- cascades to its timeline, turns, recordings, summary and pending work.

-- +goose Up
CREATE TABLE calls (
    sid          text        PRIMARY KEY,
    account_sid  text        NOT NULL DEFAULT '',
    from_number  text        NOT NULL DEFAULT '',
    to_number    text        NOT NULL DEFAULT '',
    direction    text        NOT NULL DEFAULT '',
    status       text        NOT NULL,
    -- status_rank is storage.CallStatus.Rank(): a status only moves up, so
    -- ApplyStatus is a single UPDATE ... WHERE status_rank < new rank.
    status_rank  smallint    NOT NULL CHECK (status_rank BETWEEN 1 AND 4),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    duration     integer     NOT NULL DEFAULT 0
);

-- ListCalls reads newest first with a (created_at, sid) keyset cursor; each
-- filter has an index led by its column so a page is one index range scan.
CREATE INDEX calls_created_idx ON calls (created_at DESC, sid DESC);
CREATE INDEX calls_status_created_idx ON calls (status, created_at DESC, sid DESC);
CREATE INDEX calls_from_created_idx ON calls (from_number, created_at DESC, sid DESC);
CREATE INDEX calls_to_created_idx ON calls (to_number, created_at DESC, sid DESC);

-- One row per status a call reported: repeated callbacks change nothing.
CREATE TABLE call_status_events (
    call_sid  text        NOT NULL REFERENCES calls (sid) ON DELETE CASCADE,
    status    text        NOT NULL,
    at        timestamptz NOT NULL,
    sequence  integer     NOT NULL,
    duration  integer     NOT NULL DEFAULT 0,
    id        bigint      GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (call_sid, status)
);

-- One row per (call, number, role): a repeated gather webhook finds the
-- turn stored by the first delivery.
CREATE TABLE turns (
    call_sid    text             NOT NULL REFERENCES calls (sid) ON DELETE CASCADE,
    number      integer          NOT NULL CHECK (number >= 0),
    role        text             NOT NULL CHECK (role IN ('caller', 'assistant')),
    text        text             NOT NULL,
    confidence  double precision NOT NULL DEFAULT -1,
    ends_call   boolean          NOT NULL DEFAULT false,
    error       text             NOT NULL DEFAULT '',
    created_at  timestamptz      NOT NULL,
    PRIMARY KEY (call_sid, number, role)
);

-- One row per RecordingSid, whichever callback delivers it first.
CREATE TABLE recordings (
    sid           text        PRIMARY KEY,
    call_sid      text        NOT NULL REFERENCES calls (sid) ON DELETE CASCADE,
    account_sid   text        NOT NULL DEFAULT '',
    source_url    text        NOT NULL DEFAULT '',
    duration      integer     NOT NULL DEFAULT 0,
    channels      integer     NOT NULL DEFAULT 0,
    started_at    timestamptz,
    state         text        NOT NULL CHECK (state IN ('pending', 'stored', 'failed')),
    blob_key      text        NOT NULL DEFAULT '',
    size          bigint      NOT NULL DEFAULT 0,
    sha256        text        NOT NULL DEFAULT '',
    content_type  text        NOT NULL DEFAULT '',
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    stored_at     timestamptz,
    -- id keeps the order recordings arrived in, which GetCall returns.
    id            bigint      GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX recordings_call_idx ON recordings (call_sid, id);

CREATE TABLE summaries (
    call_sid    text        PRIMARY KEY REFERENCES calls (sid) ON DELETE CASCADE,
    text        text        NOT NULL,
    reason      text        NOT NULL DEFAULT '',
    outcome     text        NOT NULL DEFAULT '',
    follow_up   boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL
);

-- Durable background work. A row lives until its work is done or given up,
-- so the unique key lets a cause enqueue its work at most once.
CREATE TABLE work (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind           text        NOT NULL,
    call_sid       text        NOT NULL REFERENCES calls (sid) ON DELETE CASCADE,
    recording_sid  text        NOT NULL DEFAULT '',
    attempts       integer     NOT NULL DEFAULT 0,
    last_error     text        NOT NULL DEFAULT '',
    -- run_at NULL: due at once; otherwise not before (retry backoff).
    run_at         timestamptz,
    -- lease is the random token of the worker holding the item until lease_until.
    lease          text,
    lease_until    timestamptz,
    UNIQUE (kind, call_sid, recording_sid)
);
CREATE INDEX work_call_idx ON work (call_sid);

-- +goose Down
DROP TABLE work;
DROP TABLE summaries;
DROP TABLE recordings;
DROP TABLE turns;
DROP TABLE call_status_events;
DROP TABLE calls;
