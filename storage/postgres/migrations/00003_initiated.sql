-- Twilio's "initiated" status sits between queued and ringing: every rank
-- from ringing up moves one place (storage.CallStatus.Rank()).

-- +goose Up
ALTER TABLE calls DROP CONSTRAINT calls_status_rank_check;
UPDATE calls SET status_rank = status_rank + 1 WHERE status_rank >= 2;
ALTER TABLE calls ADD CONSTRAINT calls_status_rank_check CHECK (status_rank BETWEEN 1 AND 5);

-- +goose Down
ALTER TABLE calls DROP CONSTRAINT calls_status_rank_check;
UPDATE calls SET status = 'queued' WHERE status = 'initiated';
UPDATE calls SET status_rank = status_rank - 1 WHERE status_rank >= 2;
ALTER TABLE calls ADD CONSTRAINT calls_status_rank_check CHECK (status_rank BETWEEN 1 AND 4);
