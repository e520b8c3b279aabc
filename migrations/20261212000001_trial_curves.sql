-- A backtest configuration's equity curve on its subject (the latest run's,
-- thinned like the simulator's): what PBO ranks the configurations tried on
-- the same data by, whether `traderai backtest` or the simulator ran them.
ALTER TABLE research_trials ADD COLUMN curve jsonb;
ALTER TABLE research_trials ADD COLUMN curve_at timestamptz;
ALTER TABLE research_trials ADD CONSTRAINT research_trials_curve_is_array
    CHECK (curve IS NULL OR jsonb_typeof(curve) = 'array');
ALTER TABLE research_trials ADD CONSTRAINT research_trials_curve_has_time
    CHECK ((curve IS NULL) = (curve_at IS NULL));
