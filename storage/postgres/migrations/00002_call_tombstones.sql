-- Deleted calls stay deleted. DeleteCall leaves a tombstone for the call's
-- SID in the same transaction as the delete; while it lasts no call row may
-- be created under that SID again, so Twilio's late status and recording
-- callbacks cannot bring the call (and its audio) back. The worker purges
-- tombstones older than TOMBSTONE_RETENTION.

-- +goose Up
CREATE TABLE call_tombstones (
    sid         text        PRIMARY KEY,
    deleted_at  timestamptz NOT NULL
);
-- PurgeTombstones takes the oldest first.
CREATE INDEX call_tombstones_deleted_idx ON call_tombstones (deleted_at);

-- UpsertCall's INSERT ... WHERE NOT EXISTS (tombstone) is checked against
-- the statement's snapshot. A delete that commits while the insert waits on
-- the call's row lock is not in that snapshot, and the insert then goes
-- ahead because the row it waited for is gone. This trigger runs after the
-- insert, in a query with a fresh snapshot that sees the committed
-- tombstone, and refuses the row with SQLSTATE SBGON (storage.ErrGone).
-- It costs one index probe per new call and nothing on updates.
-- +goose StatementBegin
CREATE FUNCTION refuse_tombstoned_call() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM call_tombstones WHERE sid = NEW.sid) THEN
        RAISE EXCEPTION 'call % was deleted', NEW.sid USING ERRCODE = 'SBGON';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER calls_refuse_tombstoned AFTER INSERT ON calls
    FOR EACH ROW EXECUTE FUNCTION refuse_tombstoned_call();

-- +goose Down
DROP TRIGGER calls_refuse_tombstoned ON calls;
DROP FUNCTION refuse_tombstoned_call();
DROP TABLE call_tombstones;
