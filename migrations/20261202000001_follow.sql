-- The followed universe's live state, one row per followed series, written
-- by the follower (one per universe across processes) and read by the
-- scanner, /health/ready, the board and the admin system page.
CREATE TABLE follow_state (
    series_id   integer PRIMARY KEY REFERENCES series (id) ON DELETE CASCADE,
    universe    text    NOT NULL,
    -- base: scanned for signals; confirm: higher timeframes for the HTF gate.
    role        text    NOT NULL CHECK (role IN ('base', 'confirm')),
    state       text    NOT NULL CHECK (state IN ('live', 'catching_up', 'stale')),
    -- Stale only: why (disconnected | venue_error | no_data), the text, since when (clock ms).
    reason      text,
    detail      text,
    since       bigint,
    -- The follower's clock when it wrote the row (a replay clock in demo
    -- mode) and its speed, so readers can say how old a bar is on it.
    clock_now   bigint  NOT NULL,
    clock_speed double precision NOT NULL DEFAULT 1 CHECK (clock_speed > 0),
    demo        boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'stale') = (reason IS NOT NULL))
);

-- Bars stored as published but judged wrong (a spike beyond k ATR, a run of
-- zero volume, a bar older than a newer one). A flagged newest bar blocks
-- signals for its series until a normal bar follows.
CREATE TABLE bar_flags (
    series_id  integer NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    open_time  bigint  NOT NULL,
    kind       text    NOT NULL CHECK (kind IN ('spike', 'zero_volume', 'out_of_order')),
    detail     text    NOT NULL,
    PRIMARY KEY (series_id, open_time)
);

-- A scan decision the scanner could not turn into a signal because its
-- series was not fit to trade on (stale, catching up, a flagged bar):
-- still one row per close, so the board can say why there is no signal.
ALTER TABLE signal_candidates
    ADD COLUMN blocked text CHECK (blocked IN ('stale', 'catching_up', 'flagged_bar')),
    ADD COLUMN blocked_reason text,
    ADD CHECK ((blocked IS NULL) = (blocked_reason IS NULL)),
    -- The regime at the bar and each higher timeframe's trend (the HTF gate's inputs):
    -- [["1h", 0.42], ["4h", null], …].
    ADD COLUMN regime text CHECK (regime IN ('uptrend', 'downtrend', 'range')),
    ADD COLUMN htf jsonb NOT NULL DEFAULT '[]'::jsonb;

-- Perpetual funding: the settled history (`/fapi/v1/fundingRate`), charged
-- by the backtester at its real times and rates, and the current predicted
-- rate (`/fapi/v1/premiumIndex`), from which plans estimate funding.
CREATE TABLE funding_rates (
    exchange     text   NOT NULL,
    symbol       text   NOT NULL,
    funding_time bigint NOT NULL,
    rate         double precision NOT NULL,
    mark_price   double precision,
    PRIMARY KEY (exchange, symbol, funding_time)
);

CREATE TABLE funding_predicted (
    exchange          text   NOT NULL,
    symbol            text   NOT NULL,
    rate              double precision NOT NULL,
    mark_price        double precision,
    next_funding_time bigint NOT NULL,
    -- Hours between settlements, from the stored history (8 on most perpetuals).
    interval_hours    double precision NOT NULL DEFAULT 8,
    venue_time        bigint NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (exchange, symbol)
);
