-- Events for the business's endpoints (storage.Endpoints, EventQueue). An
-- event is recorded by the write that causes it, once per (type, call,
-- subject), while an enabled endpoint subscribes to its type; the worker
-- fans it out into one delivery per subscribed endpoint and sends those.
-- Events and deliveries do not reference calls: call.deleted outlives its
-- call, and deliveries already made are still sent after a deletion.

-- +goose Up
CREATE TABLE webhook_endpoints (
    id               text        PRIMARY KEY,
    url              text        NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    events           text[]      NOT NULL CHECK (cardinality(events) > 0),
    enabled          boolean     NOT NULL DEFAULT true,
    disabled_reason  text        NOT NULL DEFAULT '',
    secret           text        NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    -- claimed_at is when a delivery to it was last claimed: claims take
    -- endpoints in turn, least recently served first.
    claimed_at       timestamptz,
    -- seq keeps creation order for listing.
    seq              bigint      GENERATED ALWAYS AS IDENTITY
);

CREATE TABLE events (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type         text        NOT NULL,
    call_sid     text        NOT NULL,
    subject      text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- set when fanned out: the webhook-id and the body every delivery sends
    -- (NULL payload: dropped, its call gone before it was fanned out).
    fanned       boolean     NOT NULL DEFAULT false,
    message_id   text        NOT NULL DEFAULT '',
    payload      bytea,
    lease        text,
    lease_until  timestamptz,
    UNIQUE (type, call_sid, subject)
);
-- The fan-out queue: only events not yet fanned out.
CREATE INDEX events_unfanned_idx ON events (id) WHERE NOT fanned;
CREATE INDEX events_created_idx ON events (created_at);

CREATE TABLE deliveries (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id   text        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id      bigint      NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    state         text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts      integer     NOT NULL DEFAULT 0,
    last_status   integer     NOT NULL DEFAULT 0,
    last_error    text        NOT NULL DEFAULT '',
    -- history: the attempts, oldest first, as storage.DeliveryAttempt JSON.
    history       jsonb       NOT NULL DEFAULT '[]',
    created_at    timestamptz NOT NULL,
    run_at        timestamptz NOT NULL,
    delivered_at  timestamptz,
    lease         text,
    lease_until   timestamptz
);
-- Claiming: an endpoint's pending deliveries by due time.
CREATE INDEX deliveries_pending_idx ON deliveries (endpoint_id, run_at, id) WHERE state = 'pending';
-- The delivery log, newest first, and purging, oldest first.
CREATE INDEX deliveries_endpoint_idx ON deliveries (endpoint_id, id DESC);
CREATE INDEX deliveries_created_idx ON deliveries (created_at);
CREATE INDEX deliveries_event_idx ON deliveries (event_id);

-- +goose Down
DROP TABLE deliveries;
DROP TABLE events;
DROP TABLE webhook_endpoints;
