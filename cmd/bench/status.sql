-- pgbench script: the statements storage/postgres issues for one
-- call-status callback that completes a call (ApplyStatus, advancing to a
-- terminal status): BEGIN; one pipelined batch of the row lock, the
-- tombstone probe, the guarded UPDATE and the timeline INSERT; the
-- summary's work INSERT; COMMIT. Four round trips, as the store makes them.
-- One script run is one webhook's worth of SQL.
--
-- Variables: i (per client, from -D i=0), space (-D space=N), rank (-D
-- rank=N, storage.StatusCompleted.Rank()); client_id is pgbench's. Call
-- n = space<<40 | client_id<<24 | i, sid 'CA' || 32 hex digits, the same
-- numbering the Go driver uses.
\set n (:space << 40) | (:client_id << 24) | :i
BEGIN;
\startpipeline
SELECT 1 FROM calls WHERE sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0') FOR NO KEY UPDATE;
SELECT EXISTS (SELECT 1 FROM call_tombstones WHERE sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0'));
UPDATE calls SET status = 'completed', status_rank = :rank,
	ended_at   = CASE WHEN true THEN now() ELSE ended_at END,
	duration   = CASE WHEN true THEN 42 ELSE duration END,
	updated_at = GREATEST(updated_at, now())
WHERE sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0') AND status_rank < :rank
RETURNING sid, account_sid, from_number, to_number, direction, status, created_at, updated_at, ended_at, duration;
INSERT INTO call_status_events (call_sid, status, at, sequence, duration)
SELECT 'CA' || lpad(to_hex(:n::bigint), 32, '0'), 'completed', now(), 2, 42
WHERE EXISTS (SELECT 1 FROM calls WHERE sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0'))
ON CONFLICT (call_sid, status) DO NOTHING;
\endpipeline
INSERT INTO work (kind, call_sid, recording_sid) VALUES ('summarize_call', 'CA' || lpad(to_hex(:n::bigint), 32, '0'), '')
ON CONFLICT (kind, call_sid, recording_sid) DO NOTHING;
COMMIT;
\set i :i + 1
