-- The model registry: every trained model directory, the one serving each
-- scope (universal or one symbol, per timeframe), and why each changed.
CREATE TABLE models (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope        text    NOT NULL,
    timeframe    text    NOT NULL,
    -- 1, 2, … per (scope, timeframe), in registration order.
    version      integer NOT NULL,
    -- The manifest's identity hash (models::artifact).
    sha256       text    NOT NULL UNIQUE,
    dir          text    NOT NULL,
    -- SHA-256 of the deterministic ZIP of the directory: clients compare it
    -- to tell whether the model they hold is the current one.
    zip_sha256   text    NOT NULL,
    zip_bytes    bigint  NOT NULL,
    -- Walk-forward numbers promotion compares (lower log loss is better).
    wf_log_loss  double precision,
    wf_balanced_accuracy double precision,
    summary      jsonb   NOT NULL DEFAULT '{}'::jsonb,
    status       text    NOT NULL DEFAULT 'candidate'
                 CHECK (status IN ('candidate', 'active', 'backup', 'rejected', 'pruned')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    promoted_at  timestamptz,
    UNIQUE (scope, timeframe, version)
);

-- At most one serving model per scope.
CREATE UNIQUE INDEX models_one_active ON models (scope, timeframe) WHERE status = 'active';

-- Every registry decision with its numbers: registered, promoted, kept
-- aside, rolled back, pruned, drift checks.
CREATE TABLE model_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope      text NOT NULL,
    timeframe  text NOT NULL,
    model_id   bigint REFERENCES models (id),
    action     text NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}'::jsonb,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX model_events_scope ON model_events (scope, timeframe, at DESC);
