-- Long-running work (backfill now; training, backtests, scans later) as rows.
-- Workers claim with FOR UPDATE SKIP LOCKED; a job whose owner stopped
-- heartbeating is claimable again and resumes from `checkpoint`.
CREATE TABLE jobs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text    NOT NULL,
    params           jsonb   NOT NULL,
    status           text    NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    progress         double precision NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    detail           jsonb   NOT NULL DEFAULT '{}'::jsonb,
    checkpoint       jsonb,
    error            text,
    attempts         integer NOT NULL DEFAULT 0,
    owner            text,
    cancel_requested boolean NOT NULL DEFAULT false,
    heartbeat_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- The claim query only ever looks at unfinished jobs.
CREATE INDEX jobs_open ON jobs (id) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_created ON jobs (created_at DESC);
