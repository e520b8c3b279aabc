-- Hyperparameter searches (`traderai tune` and tune jobs). A study is
-- named; its definition (space, base pipeline, target, seed, data) is
-- hashed so a resumed study is the same search. Each trial keeps its
-- walk-forward numbers; a trial left `running` by a killed process is run
-- again (same assignment) when the study resumes.
CREATE TABLE tune_studies (
    id                 bigserial PRIMARY KEY,
    name               text NOT NULL UNIQUE CHECK (name <> ''),
    definition_sha256  text NOT NULL,
    definition         jsonb NOT NULL,
    status             text NOT NULL DEFAULT 'running'
                       CHECK (status IN ('running', 'done', 'failed')),
    -- The best trial, PBO over the trials, the promoted model.
    report             jsonb,
    error              text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'done') = (report IS NOT NULL)),
    CHECK ((status = 'failed') = (error IS NOT NULL))
);

CREATE TABLE tune_trials (
    study_id     bigint NOT NULL REFERENCES tune_studies (id) ON DELETE CASCADE,
    number       integer NOT NULL CHECK (number >= 0),
    params       jsonb NOT NULL,
    state        text NOT NULL CHECK (state IN ('running', 'complete', 'pruned', 'failed')),
    -- Log-loss skill over the class prior (higher is better): all folds
    -- for a complete trial, the first fold for a pruned one.
    objective    double precision,
    -- Per-fold skill, the walk-forward report, the held-out backtest's
    -- metrics, and [time, skill gain] per tested bar (for PBO).
    folds        jsonb,
    evaluation   jsonb,
    backtest     jsonb,
    periods      jsonb,
    error        text,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    PRIMARY KEY (study_id, number),
    CHECK ((state = 'running') = (finished_at IS NULL)),
    CHECK (state NOT IN ('complete', 'pruned') OR objective IS NOT NULL),
    CHECK ((state = 'failed') = (error IS NOT NULL))
);
