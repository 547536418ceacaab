-- pgbench script: the statement storage/postgres issues for one
-- call-status callback that completes a call (ApplyStatus): one statement
-- that locks the call's row, creates the call if no earlier webhook did,
-- advances its status by rank, adds the timeline event and enqueues the
-- summary. One round trip, as the store makes it. One script run is one
-- webhook's worth of SQL.
--
-- Variables: i (per client, from -D i=0), space (-D space=N), account (-D
-- account=AC…, the seeded calls' account), completed_rank (-D, the rank of
-- storage.StatusCompleted); client_id is pgbench's. Call n = space<<40 |
-- client_id<<24 | i, sid 'CA' || 32 hex digits, the same numbering the Go
-- driver uses. pgbench makes each :variable a parameter of its own, so
-- the casts do what the store's repeated parameters do.
\set n (:space << 40) | (:client_id << 24) | :i
WITH old AS (
	SELECT sid, status_rank FROM calls WHERE sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0') FOR NO KEY UPDATE
), route AS (
	SELECT a.id, a.version FROM numbers n JOIN assistants a ON a.id = n.assistant_id WHERE n.number = '+18005550100'
), ins AS (
	INSERT INTO calls (sid, account_sid, from_number, to_number, direction, status, status_rank, created_at, updated_at, ended_at, duration,
		assistant_id, assistant_version)
	SELECT 'CA' || lpad(to_hex(:n::bigint), 32, '0'), :account, '+14155550100', '+18005550100', 'inbound', 'completed',
		:completed_rank::smallint, now(), now(), now(), 42,
		COALESCE((SELECT id FROM route), 'default'), COALESCE((SELECT version FROM route), 0)
	WHERE NOT EXISTS (SELECT 1 FROM old)
		AND NOT EXISTS (SELECT 1 FROM call_tombstones WHERE sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0'))
	ON CONFLICT (sid) DO NOTHING
	RETURNING sid, account_sid, from_number, to_number, direction, status, created_at, updated_at, ended_at, duration,
		assistant_id, assistant_version, analysis, analysis_version, analyzed_at
), upd AS (
	UPDATE calls c SET
		status      = CASE WHEN old.status_rank < :completed_rank::smallint THEN 'completed' ELSE c.status END,
		status_rank = GREATEST(old.status_rank, :completed_rank::smallint),
		ended_at    = CASE WHEN old.status_rank < :completed_rank::smallint AND true THEN now() ELSE c.ended_at END,
		duration    = CASE WHEN old.status_rank < :completed_rank::smallint AND true THEN 42 ELSE c.duration END,
		updated_at  = CASE WHEN old.status_rank < :completed_rank::smallint
				OR NOT EXISTS (SELECT 1 FROM call_status_events WHERE call_sid = 'CA' || lpad(to_hex(:n::bigint), 32, '0') AND status = 'completed')
			THEN GREATEST(c.updated_at, now()) ELSE c.updated_at END,
		account_sid = CASE WHEN c.account_sid = '' THEN :account ELSE c.account_sid END,
		from_number = CASE WHEN c.from_number = '' THEN '+14155550100' ELSE c.from_number END,
		to_number   = CASE WHEN c.to_number   = '' THEN '+18005550100' ELSE c.to_number   END,
		direction   = CASE WHEN c.direction   = '' THEN 'inbound' ELSE c.direction   END,
		assistant_id = CASE WHEN c.to_number = '' AND '+18005550100' <> ''
			THEN COALESCE((SELECT id FROM route), 'default') ELSE c.assistant_id END,
		assistant_version = CASE WHEN c.to_number = '' AND '+18005550100' <> ''
			THEN COALESCE((SELECT version FROM route), 0) ELSE c.assistant_version END
	FROM old WHERE c.sid = old.sid
	RETURNING c.sid, c.account_sid, c.from_number, c.to_number, c.direction, c.status,
		c.created_at, c.updated_at, c.ended_at, c.duration,
		c.assistant_id, c.assistant_version, c.analysis, c.analysis_version, c.analyzed_at, old.status_rank AS old_rank
), ev AS (
	INSERT INTO call_status_events (call_sid, status, at, sequence, duration)
	SELECT 'CA' || lpad(to_hex(:n::bigint), 32, '0'), 'completed', now(), 2, 42
	WHERE EXISTS (SELECT 1 FROM ins) OR EXISTS (SELECT 1 FROM upd)
	ON CONFLICT (call_sid, status) DO NOTHING
), summary AS (
	INSERT INTO work (kind, call_sid) SELECT 'summarize_call', 'CA' || lpad(to_hex(:n::bigint), 32, '0')
	WHERE true AND (EXISTS (SELECT 1 FROM ins) OR EXISTS (SELECT 1 FROM upd WHERE old_rank < :completed_rank::smallint))
	ON CONFLICT (kind, call_sid, recording_sid) DO NOTHING
)
SELECT sid, account_sid, from_number, to_number, direction, status, created_at, updated_at, ended_at, duration,
	assistant_id, assistant_version, analysis, analysis_version, analyzed_at FROM ins
UNION ALL
SELECT sid, account_sid, from_number, to_number, direction, status, created_at, updated_at, ended_at, duration,
	assistant_id, assistant_version, analysis, analysis_version, analyzed_at FROM upd;
\set i :i + 1
