-- pgbench script: the statements storage/postgres issues for one speech
-- turn webhook (POST /twilio/gather?turn=N): BeginTurn, one pipelined batch
-- in one implicit transaction (the call upserted, the caller's words stored
-- when the turn can follow the conversation, the conversation read back),
-- then AddTurn for the assistant's answer, one statement. Two round trips,
-- as the store makes them. One script run is one webhook's worth of SQL.
--
-- Variables as in status.sql, and in_progress_rank (-D, the rank of
-- storage.StatusInProgress). Request i is turn i%10+1 of the client's call
-- i/10, so each call's conversation grows as it does in the driver.
\set call :i / 10
\set turn :i % 10 + 1
\set n (:space << 40) | (:client_id << 24) | :call
\startpipeline
INSERT INTO calls AS c (sid, account_sid, from_number, to_number, direction, status, status_rank, created_at, updated_at,
	assistant_id, assistant_version)
SELECT 'CA' || lpad(to_hex(:n::bigint), 32, '0'), :account, '+14155550100', '+18005550100', 'inbound', 'in-progress',
	:in_progress_rank::smallint, now(), now(), COALESCE(route.id, 'default'), COALESCE(route.version, 0)
FROM (VALUES (1)) AS one (x) LEFT JOIN (SELECT a.id, a.version FROM numbers n JOIN assistants a ON a.id = n.assistant_id
	WHERE n.number = '+18005550100') AS route ON true
WHERE NOT EXISTS (SELECT 1 FROM call_tombstones WHERE sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0'))
ON CONFLICT (sid) DO UPDATE SET
	assistant_id      = CASE WHEN c.to_number = '' THEN excluded.assistant_id ELSE c.assistant_id END,
	assistant_version = CASE WHEN c.to_number = '' THEN excluded.assistant_version ELSE c.assistant_version END,
	account_sid = CASE WHEN c.account_sid = '' THEN excluded.account_sid ELSE c.account_sid END,
	from_number = CASE WHEN c.from_number = '' THEN excluded.from_number ELSE c.from_number END,
	to_number   = CASE WHEN c.to_number   = '' THEN excluded.to_number   ELSE c.to_number   END,
	direction   = CASE WHEN c.direction   = '' THEN excluded.direction   ELSE c.direction   END
RETURNING sid, account_sid, from_number, to_number, direction, status, created_at, updated_at, ended_at, duration,
	assistant_id, assistant_version, analysis, analysis_version, analyzed_at;
INSERT INTO turns (call_sid, number, role, text, confidence, ends_call, error, created_at)
SELECT 'CA' || lpad(to_hex(:n::bigint), 32, '0'), :turn::integer, 'caller', 'Where are you located?', 0.91, false, '', now()
WHERE 'Where are you located?' <> ''
	AND EXISTS (SELECT 1 FROM calls WHERE sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0'))
	AND NOT EXISTS (SELECT 1 FROM turns WHERE call_sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0') AND number = :turn::integer AND role = 'assistant')
	AND NOT EXISTS (SELECT 1 FROM turns WHERE call_sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0') AND role = 'assistant' AND ends_call AND number < :turn::integer)
	AND :turn::integer <= (SELECT COALESCE(max(number), 0) + 1 FROM turns WHERE call_sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0') AND role = 'assistant')
ON CONFLICT (call_sid, number, role) DO NOTHING;
SELECT call_sid, number, role, text, confidence, ends_call, error, created_at FROM turns
WHERE call_sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0') AND CASE
	WHEN EXISTS (SELECT 1 FROM turns WHERE call_sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0') AND number = :turn::integer AND role = 'assistant')
		THEN number = :turn::integer AND role = 'assistant'
	ELSE true OR role = 'assistant' END
ORDER BY number, role = 'assistant';
\endpipeline
WITH ins AS (
	INSERT INTO turns (call_sid, number, role, text, confidence, ends_call, error, created_at)
	VALUES ('CA' || lpad(to_hex(:n::bigint), 32, '0'), :turn::integer, 'assistant',
		'You can find us at 100 Main Street, next to the central station.', -1, false, '', now())
	ON CONFLICT (call_sid, number, role) DO NOTHING
	RETURNING call_sid, number, role, text, confidence, ends_call, error, created_at
)
SELECT call_sid, number, role, text, confidence, ends_call, error, created_at, true FROM ins
UNION ALL
SELECT call_sid, number, role, text, confidence, ends_call, error, created_at, false FROM turns
WHERE call_sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0') AND number = :turn::integer AND role = 'assistant'
	AND NOT EXISTS (SELECT 1 FROM ins);
\set i :i + 1
