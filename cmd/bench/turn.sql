-- pgbench script: the statements storage/postgres issues for one speech
-- turn webhook (POST /twilio/gather?turn=N): GetCall in a repeatable-read,
-- read-only transaction (one pipelined batch reading the call, its
-- timeline, turns, summary and recordings), then AddTurn for the caller's
-- turn and for the assistant's.
-- One script run is one webhook's worth of SQL.
--
-- Variables as in status.sql. Request i is turn i%10+1 of the client's
-- call i/10, so each call's conversation grows as it does in the driver.
\set call :i / 10
\set turn :i % 10 + 1
\set n (:space << 40) | (:client_id << 24) | :call
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
\startpipeline
SELECT sid, account_sid, from_number, to_number, direction, status, created_at, updated_at, ended_at, duration
FROM calls WHERE sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0');
SELECT status, at, sequence, duration FROM call_status_events
WHERE call_sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0') ORDER BY at, sequence, id;
SELECT call_sid, number, role, text, confidence, ends_call, error, created_at FROM turns
WHERE call_sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0') ORDER BY number, role = 'assistant';
SELECT text, reason, outcome, follow_up, created_at FROM summaries WHERE call_sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0');
SELECT sid, call_sid, account_sid, source_url, duration, channels, started_at, state,
	blob_key, size, sha256, content_type, attempts, last_error, created_at, stored_at
FROM recordings WHERE call_sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0') ORDER BY id;
\endpipeline
COMMIT;
INSERT INTO turns (call_sid, number, role, text, confidence, ends_call, error, created_at)
VALUES ('CA' || lpad(to_hex(:n::bigint), 32, '0'), :turn, 'caller', 'Where are you located?', 0.91, false, '', now())
ON CONFLICT (call_sid, number, role) DO NOTHING
RETURNING call_sid, number, role, text, confidence, ends_call, error, created_at;
INSERT INTO turns (call_sid, number, role, text, confidence, ends_call, error, created_at)
VALUES ('CA' || lpad(to_hex(:n::bigint), 32, '0'), :turn, 'assistant', 'You can find us at 100 Main Street, next to the central station.', -1, false, '', now())
ON CONFLICT (call_sid, number, role) DO NOTHING
RETURNING call_sid, number, role, text, confidence, ends_call, error, created_at;
\set i :i + 1
