-- The console finds calls by the last digits of a number (from or to) and
-- lists the calls in progress. Each is an ordered range scan of an index:
-- the last four digits of each number (the rest of a longer suffix is a
-- filter on what the index finds), and the calls that have not ended
-- (status_rank below the terminal rank 5, storage.CallStatus.Rank()),
-- which are few however many calls there are.
--
-- The indexes are built CONCURRENTLY, so webhooks keep writing calls while
-- they build; a build interrupted part-way leaves an invalid index, which
-- the DROP before each CREATE removes when the migration runs again.

-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS calls_from_last4_idx;
CREATE INDEX CONCURRENTLY calls_from_last4_idx ON calls (right(from_number, 4), created_at DESC, sid DESC);
DROP INDEX CONCURRENTLY IF EXISTS calls_to_last4_idx;
CREATE INDEX CONCURRENTLY calls_to_last4_idx ON calls (right(to_number, 4), created_at DESC, sid DESC);
DROP INDEX CONCURRENTLY IF EXISTS calls_active_created_idx;
CREATE INDEX CONCURRENTLY calls_active_created_idx ON calls (created_at DESC, sid DESC) WHERE status_rank < 5;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS calls_active_created_idx;
DROP INDEX CONCURRENTLY IF EXISTS calls_to_last4_idx;
DROP INDEX CONCURRENTLY IF EXISTS calls_from_last4_idx;
