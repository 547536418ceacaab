-- Assistants as data. An assistant is a row pointing at its current
-- version; each change stores the next version, and versions are never
-- changed or deleted, so a call that recorded the version it ran with can
-- always be read against the settings it had. Numbers route incoming calls
-- to assistants; a call whose number has none runs with the deployment's
-- default assistant ('default', version 0: its environment).

-- +goose Up
CREATE TABLE assistants (
    id          text        PRIMARY KEY,
    version     integer     NOT NULL CHECK (version >= 1),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- settings is storage.AssistantSettings as JSON. json, not jsonb: the
-- analysis schema keeps the key order its author wrote, which models
-- follow when they fill it in.
CREATE TABLE assistant_versions (
    assistant_id  text        NOT NULL,
    version       integer     NOT NULL CHECK (version >= 1),
    settings      json        NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (assistant_id, version)
);

-- The foreign key refuses to delete an assistant a number routes to.
CREATE TABLE numbers (
    number        text        PRIMARY KEY,
    assistant_id  text        NOT NULL REFERENCES assistants (id),
    created_at    timestamptz NOT NULL
);
CREATE INDEX numbers_assistant_idx ON numbers (assistant_id);

-- Calls made before this migration ran with the environment's settings.
ALTER TABLE calls
    ADD COLUMN assistant_id       text        NOT NULL DEFAULT 'default',
    ADD COLUMN assistant_version  integer     NOT NULL DEFAULT 0,
    ADD COLUMN analysis           jsonb,
    ADD COLUMN analysis_version   integer     NOT NULL DEFAULT 0,
    ADD COLUMN analyzed_at        timestamptz;

-- ListCalls by assistant, and the calls an analysis run selects.
CREATE INDEX calls_assistant_created_idx ON calls (assistant_id, created_at DESC, sid DESC);
-- ListCalls' analysis.<field>=<value> filters are jsonb containment
-- (analysis @> '{"field": value}'), which this index answers.
CREATE INDEX calls_analysis_idx ON calls USING gin (analysis jsonb_path_ops);
-- The planner estimates a containment by testing it on the column's sampled
-- values (its histogram); with the default 100 it falls back to a fixed
-- guess for most fields, and then walks calls_created_idx for a rare value
-- instead of asking calls_analysis_idx. A larger sample gives it real
-- estimates.
ALTER TABLE calls ALTER COLUMN analysis SET STATISTICS 1000;

CREATE TABLE analysis_runs (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    assistant_id  text        NOT NULL,
    version       integer     NOT NULL,
    since         timestamptz,
    total         integer     NOT NULL DEFAULT 0,
    done          integer     NOT NULL DEFAULT 0,
    failed        integer     NOT NULL DEFAULT 0,
    last_error    text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL
);
CREATE INDEX analysis_runs_assistant_idx ON analysis_runs (assistant_id, id);

-- An analysis item of a run names it; the run's pending count is its items.
ALTER TABLE work ADD COLUMN run_id bigint REFERENCES analysis_runs (id) ON DELETE SET NULL;
CREATE INDEX work_run_idx ON work (run_id) WHERE run_id IS NOT NULL;

-- +goose Down
DROP INDEX work_run_idx;
ALTER TABLE work DROP COLUMN run_id;
DROP TABLE analysis_runs;
DROP INDEX calls_analysis_idx;
DROP INDEX calls_assistant_created_idx;
ALTER TABLE calls
    DROP COLUMN assistant_id,
    DROP COLUMN assistant_version,
    DROP COLUMN analysis,
    DROP COLUMN analysis_version,
    DROP COLUMN analyzed_at;
DROP TABLE numbers;
DROP TABLE assistant_versions;
DROP TABLE assistants;
