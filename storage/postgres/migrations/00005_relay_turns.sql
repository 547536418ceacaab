-- Streamed (ConversationRelay) calls store the same turns as <Gather> calls,
-- plus whether the caller talked over an assistant turn and how fast each
-- streamed reply reached the caller (NULL for <Gather> turns).

-- +goose Up
ALTER TABLE turns
    ADD COLUMN interrupted            boolean          NOT NULL DEFAULT false,
    ADD COLUMN latency_first_token_ms double precision,
    ADD COLUMN latency_first_text_ms  double precision,
    ADD COLUMN latency_last_text_ms   double precision;

-- +goose Down
ALTER TABLE turns
    DROP COLUMN interrupted,
    DROP COLUMN latency_first_token_ms,
    DROP COLUMN latency_first_text_ms,
    DROP COLUMN latency_last_text_ms;
