-- What an assistant turn did besides talking: the business tools it called
-- (arguments, result or error, duration) and the transfer it requested,
-- whose progress the whisper and <Dial action> webhooks write into the same
-- row, so the target's call leg is linked to the transferred call and never
-- becomes a call of its own. tool_calls is json, not jsonb: arguments and
-- results are kept byte for byte as the model and the tool wrote them.

-- +goose Up
ALTER TABLE turns
    ADD COLUMN tool_calls json,
    ADD COLUMN transfer   jsonb;

-- +goose Down
ALTER TABLE turns
    DROP COLUMN tool_calls,
    DROP COLUMN transfer;
