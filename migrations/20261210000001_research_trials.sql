-- Every model configuration trained on a set of series: what a training
-- report's deflated Sharpe counts as trials (pipelines, seeds, horizons
-- tried on the same data), whichever process trained it.
CREATE TABLE research_trials (
    -- The data: timeframe and the sorted exchange:symbol list, and the scope.
    subject      text NOT NULL,
    -- SHA-256 of the configuration (pipeline, seed, horizon).
    config_hash  text NOT NULL,
    first_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, config_hash)
);
