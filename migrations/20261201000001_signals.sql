-- Signal candidates: what the scanner saw at each bar close of each stored
-- series. A candidate holds the market state and the prediction; the plan
-- (levels, leverage, size) is made from it for each reader's risk profile
-- and capital, so one scan serves every user.
CREATE TABLE signal_candidates (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    series_id    integer NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    -- Open time (ms) of the bar whose close the candidate was made at.
    bar_time     bigint  NOT NULL,
    -- Close of that bar (the expected entry) and ATR(14) at it.
    price        double precision NOT NULL,
    atr          double precision,
    -- 'model' (the serving model of the series' timeframe) or 'technical'
    -- (the rule, when no model serves that timeframe).
    source       text    NOT NULL CHECK (source IN ('model', 'technical')),
    model_id     bigint  REFERENCES models (id) ON DELETE SET NULL,
    model_label  text    NOT NULL,
    -- NULL when the source said nothing about the bar (no technical setup).
    p_up         double precision,
    p_neutral    double precision,
    p_down       double precision,
    expected_move_pct double precision,
    confidence   double precision,
    -- Conformal move interval and prediction set (models only).
    move_low     double precision,
    move_high    double precision,
    coverage_level double precision,
    prediction_set text,
    -- Why: [{"feature", "value"}], largest first.
    drivers      jsonb   NOT NULL DEFAULT '[]'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (series_id, bar_time, source)
);

-- Each series' newest candidate (a model's before the rule's at one bar):
-- the dashboard reads it on every request, the scanner every minute.
CREATE INDEX signal_candidates_newest ON signal_candidates (series_id, bar_time DESC, source);
